"""Write-back in the customer's own period labels for long exports: each label is recorded in
the import's transaction (budget_period_label), written back as the customer wrote it, and
the written file, synced as an import, gives the same budgets (a round trip)."""

from __future__ import annotations

import csv
import io
import os
import time

import pytest

from finsync.budget import config as configs
from finsync.budget import writeback as wb
from finsync.budget.sync import sync_customer
from tests.conftest import fetch

pytestmark = pytest.mark.integration

HEADER = "Cost Centre,Account,{period},Budget Amount,Currency"
# case -> (the period column header(s), the labels of Jul 2025, Aug 2025 and Jan 2026)
CASES = {
    "iso-month": ("Period", ["2025-07", "2025-08", "2026-01"]),
    "mon-yy": ("Period", ["Jul-25", "Aug-25", "Jan-26"]),
    "year-and-period": ("Year,Period", ["FY26,Jul", "FY26,Aug", "FY26,Jan"]),
}
CANONICAL = ["FY2026-M01", "FY2026-M02", "FY2026-M07"]  # a July fiscal year


def export(case: str) -> str:
    header, labels = CASES[case]
    lines = [HEADER.format(period=header)]
    for dept, amount in (("Marketing", "1000.00"), ("IT", "250.50")):
        lines += [f"{dept},Events,{label},{amount},AUD" for label in labels]
    return "\n".join(lines) + "\n"


def budgets(conn, customer: str) -> dict:
    return {
        (r["department"], r["sub_category"], r["fiscal_period"]): (
            r["budgeted_amount"],
            r["currency"],
        )
        for r in fetch(
            conn,
            "select * from budget where customer_id = %s and deleted_at is null",
            (customer,),
        )
    }


def drop(folder, name: str, text: str) -> None:
    path = folder / name
    path.write_text(text)
    old = time.time() - 120
    os.utime(path, (old, old))


@pytest.mark.parametrize("case", list(CASES))
def test_long_export_written_back_in_its_own_labels_and_reimported_the_same(conn, tmp_path, case):
    inbox, work = tmp_path / "inbox", tmp_path / "work"
    inbox.mkdir()
    config_id = configs.add(
        conn,
        customer_id="acme",
        source_type="local",
        source_config={"path": str(inbox), "glob": "*.csv"},
        fiscal_year_start_month=7,
        default_currency="AUD",
    )
    conn.execute(
        "update budget_data_source_config set settle_seconds = 0 where config_id = %s",
        (config_id,),
    )
    drop(inbox, "budget.csv", export(case))
    (cfg,) = configs.load(conn, config_id=config_id)
    first = sync_customer(conn, cfg, work_dir=work)
    assert first.status == "success", first.message
    imported = budgets(conn, "acme")
    assert sorted({k[2] for k in imported}) == CANONICAL

    header, labels = CASES[case]
    recorded = wb.recorded_labels(conn, config_id)
    split = [tuple(label.split(",")) for label in labels] if "," in header else None
    expected = {
        p: (s[0], s[1]) if split else (None, label)
        for p, label, s in zip(
            ["FY2026-M01", "FY2026-M02", "FY2026-M07"], labels, split or labels, strict=True
        )
    }
    assert recorded == expected

    configs.update(conn, config_id, {"writeback": {"folder": "finsync"}}, changed_by="user:ann")
    (cfg,) = configs.load(conn, config_id=config_id)
    outcome = wb.write_back(conn, cfg, triggered_by="manual")
    assert outcome.status == "success", outcome.message
    written = inbox / "finsync" / "finsync_utilisation.csv"
    rows = list(csv.DictReader(io.StringIO(written.read_text())))
    if split:
        assert {(r["Year"], r["Period"]) for r in rows} == set(split)
    else:
        assert {r["Period"] for r in rows} == set(labels)  # exactly as the customer wrote them

    # The written file, synced as the customer's next export: the same budgets, nothing new.
    drop(inbox, "budget_from_finsync.csv", written.read_text())
    (cfg,) = configs.load(conn, config_id=config_id)
    again = sync_customer(conn, cfg, work_dir=work)
    assert again.status == "success", again.message
    assert again.file_name == "budget_from_finsync.csv"
    assert (again.counts["created"], again.counts["updated"]) == (0, 0)
    assert again.counts["unchanged"] == len(imported)
    assert budgets(conn, "acme") == imported
    assert wb.recorded_labels(conn, config_id) == expected  # the same labels came back


def test_a_failed_import_records_no_labels(conn, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    config_id = configs.add(
        conn,
        customer_id="acme",
        source_type="local",
        source_config={"path": str(inbox), "glob": "*.csv"},
        fiscal_year_start_month=7,
        default_currency="AUD",
        error_tolerance_pct=0,
    )
    conn.execute(
        "update budget_data_source_config set settle_seconds = 0 where config_id = %s",
        (config_id,),
    )
    bad = export("iso-month").replace("250.50", "lots")
    drop(inbox, "budget.csv", bad)
    (cfg,) = configs.load(conn, config_id=config_id)
    outcome = sync_customer(conn, cfg, work_dir=tmp_path / "work")
    assert outcome.status == "failed", outcome.message
    assert wb.recorded_labels(conn, config_id) == {}
