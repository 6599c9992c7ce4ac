"""Utilisation write-back against real PostgreSQL and real servers: a local folder, the SFTP
server and the S3-compatible endpoint (tests/integration/servers.py), and DAG budget_writeback
run whole by stock Airflow. Every file written is read back and compared with
budget_utilization.
"""

from __future__ import annotations

import csv
import io
import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from finsync.budget import config as configs
from finsync.budget import writeback as wb
from finsync.budget.periods import FiscalCalendar, parse_period
from tests.conftest import fetch, insert
from tests.integration.conftest import S3_CONN_ID, SFTP_CONN_ID
from tests.integration.dagrun import run_dag, task_states, xcom_value

pytestmark = pytest.mark.integration

MAPPING = {
    "department": "Cost Centre",
    "sub_category": "Account",
    "fiscal_period": "Period",
    "budgeted_amount": "Budget Amount",
    "currency": "Currency",
    "fiscal_year": None,
}
BUDGETS = [  # department, sub-category, period, budgeted, committed, reserved (None: no row)
    ("Marketing", "Events", "FY2026-M01", "1000.00", "250.50", "100.00"),
    ("Marketing", "Events", "FY2026-M02", "1000.00", None, None),
    ("IT", "Cloud, hosting", "FY2026-Q1", "800.00", "0", "900.00"),  # over: available < 0
    ("Sales", None, "FY2026", "12000.00", "11999.99", "0"),
]


def seed(conn, customer: str, source_type: str, source_config: dict, writeback: dict) -> int:
    """A customer's config with a confirmed mapping and write-back on, its budgets (one
    soft-deleted) and what procurement booked against them."""
    config_id = configs.add(
        conn,
        customer_id=customer,
        source_type=source_type,
        source_config=source_config,
        fiscal_year_start_month=7,
        default_currency="AUD",
    )
    configs.save_confirmed_mapping(
        conn, config_id, list(filter(None, MAPPING.values())), MAPPING, "user:ann"
    )
    configs.update(conn, config_id, {"writeback": writeback}, changed_by="user:ann")
    rows = [
        {
            "customer_id": customer,
            "department": d,
            "sub_category": s,
            "fiscal_period": p,
            "budgeted_amount": Decimal(b),
            "currency": "AUD",
            "deleted_at": None,
        }
        for d, s, p, b, _, _ in BUDGETS
    ]
    rows.append({**rows[0], "fiscal_period": "FY2026-M03", "deleted_at": "2026-01-01"})
    insert(conn, "budget", rows)
    ids = {
        (r["department"], r["fiscal_period"]): r["budget_id"]
        for r in fetch(conn, "select * from budget where customer_id = %s", (customer,))
    }
    insert(
        conn,
        "budget_utilization",
        [
            {
                "budget_id": ids[(d, p)],
                "committed_amount": Decimal(c),
                "reserved_amount": Decimal(r),
            }
            for d, _, p, _, c, r in BUDGETS
            if c is not None
        ],
    )
    return config_id


def read_back(data: bytes, fmt: str) -> list[dict[str, str]]:
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    from openpyxl import load_workbook

    rows = list(load_workbook(io.BytesIO(data), read_only=True).active.iter_rows(values_only=True))
    return [
        {h: "" if v is None else str(v) for h, v in zip(rows[0], r, strict=True)} for r in rows[1:]
    ]


def assert_matches_utilisation(conn, customer: str, data: bytes, fmt: str = "csv") -> None:
    """The file holds exactly the customer's active budgets, each with budget_utilization's
    figures (zero when it has no row) and available = budgeted - committed - reserved."""
    expected = {
        (r["department"], r["sub_category"] or "", r["fiscal_period"]): (
            r["budgeted_amount"],
            r["committed"],
            r["reserved"],
            r["budgeted_amount"] - r["committed"] - r["reserved"],
            r["currency"],
        )
        for r in fetch(
            conn,
            "select b.*, coalesce(u.committed_amount, 0) as committed, "
            "coalesce(u.reserved_amount, 0) as reserved from budget b "
            "left join budget_utilization u using (budget_id) "
            "where b.customer_id = %s and b.deleted_at is null",
            (customer,),
        )
    }
    calendar = FiscalCalendar(start=7)
    got = {}
    for row in read_back(data, fmt):
        canonical, why = parse_period(row["Period"], calendar)
        assert why is None, row
        key = (row["Cost Centre"], row["Account"], canonical)
        got[key] = (
            *(Decimal(row[c]) for c in ("Budget Amount", "Committed", "Reserved", "Available")),
            row["Currency"],
        )
    assert got == expected
    assert len(expected) == len(BUDGETS)


def book(conn, customer: str, amount: str) -> None:
    """Procurement reserves more against the first budget (what the service's reserve does)."""
    conn.execute(
        "update budget_utilization u set reserved_amount = reserved_amount + %s from budget b "
        "where b.budget_id = u.budget_id and b.customer_id = %s and b.fiscal_period = 'FY2026-M01'",
        (Decimal(amount), customer),
    )


def history(conn, config_id: int) -> list[dict]:
    return fetch(
        conn,
        "select * from budget_writeback_history where config_id = %s order by writeback_id",
        (config_id,),
    )


def test_local_write_back_reads_back_exactly_skips_unchanged_and_never_overwrites(conn, tmp_path):
    inbox = tmp_path / "acme"
    inbox.mkdir()
    config_id = seed(conn, "acme", "local", {"path": str(inbox)}, {"folder": "finsync/out"})
    (cfg,) = configs.load(conn, config_id=config_id)
    written = inbox / "finsync" / "out" / "finsync_utilisation.csv"

    first = wb.write_back(conn, cfg, triggered_by="manual")
    assert first.status == "success", first.message
    assert_matches_utilisation(conn, "acme", written.read_bytes())
    text = written.read_text()
    assert text.splitlines()[0] == (
        "Cost Centre,Account,Period,Currency,Budget Amount,Committed,Reserved,Available"
    )
    assert "Jul 2025" in text and "Q1 FY2026" in text  # the customer's calendar (July)
    assert os.listdir(written.parent) == ["finsync_utilisation.csv"]  # no temporary left

    # Nothing changed: skipped, the file untouched.
    mtime = written.stat().st_mtime_ns
    again = wb.write_back(conn, cfg)
    assert again.status == "unchanged" and written.stat().st_mtime_ns == mtime

    # Procurement booked more: written again (finsync replaces its own file).
    book(conn, "acme", "49.50")
    third = wb.write_back(conn, cfg)
    assert third.status == "success", third.message
    assert_matches_utilisation(conn, "acme", written.read_bytes())
    assert "Jul 2025,AUD,1000.00,250.50,149.50,600.00" in written.read_text()

    # Someone edits finsync's file: it is no longer finsync's, and is never overwritten.
    written.write_text("Cost Centre,Note\nMarketing,keep me\n")
    book(conn, "acme", "1.00")
    refused = wb.write_back(conn, cfg)
    assert refused.status == "failed"
    assert (
        "finsync_utilisation.csv is already there and finsync did not write it" in refused.message
    )
    assert written.read_text() == "Cost Centre,Note\nMarketing,keep me\n"
    assert [h["status"] for h in history(conn, config_id)] == [
        "success",
        "unchanged",
        "success",
        "failed",
    ]
    recorded = history(conn, config_id)[0]
    assert recorded["budget_count"] == len(BUDGETS) and recorded["triggered_by"] == "manual"
    assert recorded["files"][0]["name"] == "finsync_utilisation.csv"
    assert recorded["duration_ms"] is not None and recorded["end_time"] is not None


def test_sftp_write_back_csv_and_xlsx_and_a_foreign_file_is_refused(conn, sftp):
    config_id = seed(
        conn,
        "globex",
        "sftp",
        {"conn_id": SFTP_CONN_ID, "path": "/exports"},
        {"folder": "finsync", "formats": ["csv", "xlsx"]},
    )
    folder = sftp.root / "exports" / "finsync"
    folder.mkdir(parents=True)
    # The customer placed a file under finsync's name before any write-back: refused.
    (folder / "finsync_utilisation.xlsx").write_bytes(b"theirs")
    (cfg,) = configs.load(conn, config_id=config_id)
    refused = wb.write_back(conn, cfg)
    assert refused.status == "failed" and "did not write it" in refused.message
    assert (folder / "finsync_utilisation.xlsx").read_bytes() == b"theirs"
    assert os.listdir(folder) == ["finsync_utilisation.xlsx"]  # all or none: no CSV either
    (folder / "finsync_utilisation.xlsx").unlink()  # they move it away

    done = wb.write_back(conn, cfg)
    assert done.status == "success", done.message
    assert f"host 127.0.0.1:{sftp.port}" in done.location
    assert_matches_utilisation(conn, "globex", (folder / "finsync_utilisation.csv").read_bytes())
    xlsx = (folder / "finsync_utilisation.xlsx").read_bytes()
    assert_matches_utilisation(conn, "globex", xlsx, "xlsx")
    assert sorted(os.listdir(folder)) == ["finsync_utilisation.csv", "finsync_utilisation.xlsx"]

    book(conn, "globex", "10.00")
    assert wb.write_back(conn, cfg).status == "success"  # replaces its own files in one rename
    assert_matches_utilisation(conn, "globex", (folder / "finsync_utilisation.csv").read_bytes())
    assert wb.write_back(conn, cfg).status == "unchanged"


def test_s3_write_back_reads_back_exactly(conn, s3):
    config_id = seed(
        conn,
        "initech",
        "s3",
        {"conn_id": S3_CONN_ID, "bucket": s3.bucket, "prefix": "exports/"},
        {"folder": "finsync"},
    )
    (cfg,) = configs.load(conn, config_id=config_id)
    client = s3.client()
    assert wb.write_back(conn, cfg).status == "success"
    body = client.get_object(Bucket=s3.bucket, Key="exports/finsync/finsync_utilisation.csv")
    assert_matches_utilisation(conn, "initech", body["Body"].read())
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=s3.bucket)["Contents"]]
    assert keys == ["exports/finsync/finsync_utilisation.csv"]  # the temporary object is gone

    book(conn, "initech", "5.00")
    assert wb.write_back(conn, cfg).status == "success"
    body = client.get_object(Bucket=s3.bucket, Key="exports/finsync/finsync_utilisation.csv")
    assert_matches_utilisation(conn, "initech", body["Body"].read())
    assert wb.write_back(conn, cfg).status == "unchanged"

    client.put_object(
        Bucket=s3.bucket, Key="exports/finsync/finsync_utilisation.csv", Body=b"edited"
    )
    book(conn, "initech", "5.00")
    refused = wb.write_back(conn, cfg)
    assert refused.status == "failed" and "did not write it" in refused.message
    body = client.get_object(Bucket=s3.bucket, Key="exports/finsync/finsync_utilisation.csv")
    assert body["Body"].read() == b"edited"


def test_the_dag_writes_every_due_customer_and_fails_naming_a_refused_one(
    conn, airflow_db, tmp_path
):
    folders = {}
    for customer in ("acme", "beta"):
        folders[customer] = tmp_path / customer
        folders[customer].mkdir()
        seed(conn, customer, "local", {"path": str(folders[customer])}, {"folder": "finsync"})
    (folders["beta"] / "finsync").mkdir()
    (folders["beta"] / "finsync" / "finsync_utilisation.csv").write_text("their own\n")

    run = run_dag("budget_writeback", {})
    states = task_states(run)
    assert run.state == "failed" and states["check_outcomes"] == "failed", states
    summary = xcom_value(run, "report_summary")
    assert summary["customers"]["acme"]["status"] == "success"
    assert summary["customers"]["beta"]["status"] == "failed"
    assert "did not write it" in summary["failed"]["beta"]
    written = folders["acme"] / "finsync" / "finsync_utilisation.csv"
    assert_matches_utilisation(conn, "acme", written.read_bytes())
    assert (folders["beta"] / "finsync" / "finsync_utilisation.csv").read_text() == "their own\n"

    # Daily: nobody is due an hour later; asked for by name, acme's is unchanged.
    manual = run_dag("budget_writeback", {"customer_id": "acme"})
    assert manual.state == "success"
    assert xcom_value(manual, "report_summary")["customers"]["acme"]["status"] == "unchanged"
    assert wb.due(conn, datetime.now(UTC)) == []
    assert {c.customer_id for c in wb.due(conn, datetime.now(UTC) + timedelta(days=1))} == {
        "acme",
        "beta",
    }


def test_the_setting_goes_through_the_api_with_its_checks(conn, tmp_path):
    from fastapi.testclient import TestClient

    from finsync.api.main import app
    from tests.integration.api_helpers import bearer, tokens

    config_id = configs.add(
        conn, customer_id="acme", source_type="local", source_config={"path": str(tmp_path)}
    )
    admin = bearer(tokens(conn)["admin"])
    with TestClient(app) as client:
        url = f"/sync/config/{config_id}"
        bad = client.patch(url, headers=admin, json={"writeback": {"folder": "../up"}})
        assert bad.status_code == 422 and "relative sub-folder" in bad.text
        good = client.patch(url, headers=admin, json={"writeback": {"formats": ["xlsx"]}})
        assert good.status_code == 200, good.text
        assert good.json()["writeback"] == {"formats": ["xlsx"]}
    (cfg,) = configs.load(conn, config_id=config_id)
    assert wb.settings_of(cfg).file_names() == {"xlsx": "finsync_utilisation.xlsx"}
