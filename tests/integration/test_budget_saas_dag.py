"""The API sources synced through DAG budget_sync (stock Airflow, dag.test) against their
loopback servers (saas_servers.py), into real PostgreSQL: a Google Sheets range (a merged
department over its lines), an Anaplan export in chunks (a task IN_PROGRESS for a few polls)
and an XLSX behind an HTTPS-style export link with a Bearer token. The budgets are exactly the
sources'; the next run finds the same content and is `unchanged`; a source that then refuses
(the sheet no longer shared) fails that customer at once with a clear message and leaves its
budgets in force.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from finsync.budget import config as configs
from finsync.budget.sync import sync_customer
from tests.conftest import fetch
from tests.integration.dagrun import run_dag, xcom_value
from tests.integration.saas_servers import (
    AnaplanAPI,
    AnaplanExport,
    Download,
    FileAPI,
    GoogleAPI,
    Sheet,
    serve,
)

pytestmark = pytest.mark.integration
DAG_ID = "budget_sync"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SPREADSHEET = "1AcmeBudgetSheetFY2026xyz"

SHEET_ROWS = [
    ["Acme Corp - Operating budget FY2026", "", "", "", ""],
    ["Cost Centre", "Account", "Period", "Budget Amount", "Currency"],
    ["Marketing", "Events", "Jan 2026", "1,000.00", "USD"],
    ["", "Travel", "Jan 2026", "250.50", "USD"],
    ["IT", "Cloud", "Feb 2026", "800", "USD"],
]
SHEET_MERGES = [(0, 1, 0, 5), (2, 4, 0, 1)]  # the title across; Marketing over two lines
ANAPLAN_CSV = (
    b"Cost Centre,Line Item,Time,Budget,Currency\n"
    b"Sales,Travel,Jan 2026,1200,AUD\n"
    b"Sales,Travel,Feb 2026,1300,AUD\n"
    b"Finance,Audit,Q1 2026,9000,AUD\n"
    b"Operations,Rent,Mar 2026,4100.25,AUD\n"
)


def wide_xlsx() -> bytes:
    import xlsxwriter

    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet("Plan")
    rows = [
        ["Department", "Expense Type", "Jan 2026", "Feb 2026", "Mar 2026"],
        ["People", "Training", 500, 600, 700],
        ["Facilities", "Cleaning", 90.5, 90.5, 90.5],
    ]
    for r, row in enumerate(rows):
        sheet.write_row(r, 0, row)
    book.close()
    return out.getvalue()


@pytest.fixture
def saas(conn, airflow_db, tmp_path, monkeypatch) -> Iterator[dict]:
    """The three servers, their connections (AIRFLOW_CONN_*) and one customer each."""
    monkeypatch.setenv("FINSYNC_WORK_DIR", str(tmp_path / "work"))
    with ExitStack() as stack:
        google = stack.enter_context(serve(GoogleAPI()))
        anaplan = stack.enter_context(serve(AnaplanAPI("planner@globex.test", "An4plan-pw-DAG")))
        files = stack.enter_context(serve(FileAPI(token="tok-initech-77f0c2")))

        key = google.make_key()
        google.add(SPREADSHEET, "Acme FY26", {"Budget": Sheet(SHEET_ROWS, SHEET_MERGES)})
        anaplan.add_export(
            "WS",
            "MODEL",
            "116000000007",
            AnaplanExport("Budget Export.csv", ANAPLAN_CSV, chunk_size=64),
        )
        files.files["/files/initech-plan"] = Download(wide_xlsx(), XLSX, filename="Plan FY26.xlsx")
        files.redirects["/schedules/9/latest"] = "/files/initech-plan"

        connections = {
            "acme_google": {
                "conn_type": "google_cloud_platform",
                "extra": {"keyfile_dict": json.dumps(key), "endpoint": google.url},
            },
            "globex_anaplan": {
                "conn_type": "http",
                "login": "planner@globex.test",
                "password": "An4plan-pw-DAG",
                "extra": {"endpoint": anaplan.url, "auth_endpoint": anaplan.url},
            },
            "initech_http": {"conn_type": "http", "password": "tok-initech-77f0c2"},
        }
        for conn_id, connection in connections.items():
            monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))
        for customer_id, source_type, source_config, currency in (
            (
                "acme",
                "google_sheets",
                {"conn_id": "acme_google", "spreadsheet_id": SPREADSHEET, "range": "Budget"},
                "USD",
            ),
            (
                "globex",
                "anaplan",
                {
                    "conn_id": "globex_anaplan",
                    "workspace_id": "WS",
                    "model_id": "MODEL",
                    "export_id": "116000000007",
                    "poll_seconds": 0.05,
                },
                "AUD",
            ),
            (
                "initech",
                "http",
                {"conn_id": "initech_http", "url": f"{files.url}/schedules/9/latest"},
                "EUR",
            ),
        ):
            configs.add(
                conn,
                customer_id=customer_id,
                source_type=source_type,
                source_config=source_config,
                default_currency=currency,
                frequency="hourly",
            )
        yield {"google": google, "anaplan": anaplan, "files": files}


def budgets(conn) -> dict[str, list[tuple]]:
    rows = fetch(
        conn,
        "select customer_id, department, sub_category, fiscal_period, budgeted_amount::text "
        "as amount, currency, source from budget where deleted_at is null "
        "order by customer_id, department, sub_category, fiscal_period",
    )
    found: dict[str, list[tuple]] = {}
    for r in rows:
        found.setdefault(r["customer_id"], []).append(
            (r["department"], r["sub_category"], r["fiscal_period"], r["amount"], r["currency"])
        )
    return found


EXPECTED = {
    "acme": [
        ("IT", "Cloud", "FY2026-M02", "800.00", "USD"),
        ("Marketing", "Events", "FY2026-M01", "1000.00", "USD"),
        ("Marketing", "Travel", "FY2026-M01", "250.50", "USD"),
    ],
    "globex": [
        ("Finance", "Audit", "FY2026-Q1", "9000.00", "AUD"),
        ("Operations", "Rent", "FY2026-M03", "4100.25", "AUD"),
        ("Sales", "Travel", "FY2026-M01", "1200.00", "AUD"),
        ("Sales", "Travel", "FY2026-M02", "1300.00", "AUD"),
    ],
    "initech": [
        ("Facilities", "Cleaning", "FY2026-M01", "90.50", "EUR"),
        ("Facilities", "Cleaning", "FY2026-M02", "90.50", "EUR"),
        ("Facilities", "Cleaning", "FY2026-M03", "90.50", "EUR"),
        ("People", "Training", "FY2026-M01", "500.00", "EUR"),
        ("People", "Training", "FY2026-M02", "600.00", "EUR"),
        ("People", "Training", "FY2026-M03", "700.00", "EUR"),
    ],
}


def make_due(conn) -> None:
    conn.execute("update budget_data_source_config set next_sync_at = now() - interval '1 minute'")


def test_api_sources_sync_exactly_then_unchanged_then_refusal_keeps_budgets(conn, saas, tmp_path):
    first = run_dag(DAG_ID, {})

    summary = xcom_value(first, "report_summary")["customers"]
    assert {c: s["status"] for c, s in summary.items()} == {
        "acme": "success",
        "globex": "success",
        "initech": "success",
    }, summary
    assert first.state == "success"
    assert budgets(conn) == EXPECTED
    files = {
        r["customer_id"]: r["file_name"]
        for r in fetch(conn, "select customer_id, file_name from sync_history")
    }
    assert files == {
        "acme": "Acme FY26 - Budget.csv",
        "globex": "Budget Export.csv",
        "initech": "Plan FY26.xlsx",
    }
    assert len(saas["anaplan"].seen("/chunks/")) == len(ANAPLAN_CSV) // 64 + 1
    assert len(saas["anaplan"].seen("/tasks/", "GET")) == 4  # IN_PROGRESS three times

    make_due(conn)
    second = run_dag(DAG_ID, {})

    summary = xcom_value(second, "report_summary")["customers"]
    assert {c: s["status"] for c, s in summary.items()} == dict.fromkeys(EXPECTED, "unchanged")
    assert all("same content as a file already imported" in s["message"] for s in summary.values())
    assert budgets(conn) == EXPECTED

    # Someone stops sharing the sheet: the next attempt is refused at once (returned as
    # `failed`, not raised: airflow_steps fails the task without retries), says why in
    # sync_history, and the previous budgets stay in force.
    saas["google"].shared_with.clear()
    [acme] = configs.load(conn, customer_id="acme")
    outcome = sync_customer(conn, acme, work_dir=tmp_path / "work" / "acme", triggered_by="manual")

    assert outcome.status == "failed"
    [refused] = fetch(
        conn,
        "select status, message from sync_history where customer_id = 'acme' "
        "order by sync_id desc limit 1",
    )
    assert refused == {"status": "failed", "message": outcome.message}
    assert refused["message"] == (
        "google_sheets source of customer 'acme' (connection 'acme_google', spreadsheet "
        f"{SPREADSHEET}, range Budget): reading the spreadsheet: 403 access denied (The caller "
        "does not have permission). Share the spreadsheet with "
        "budget-reader@finsync-test.iam.gserviceaccount.com (Viewer is enough), or check that "
        "the Sheets API is enabled for the service account's project."
    )
    assert len(saas["google"].seen("/v4/spreadsheets/", "GET")) == 4 + 1  # not retried
    assert budgets(conn) == EXPECTED
