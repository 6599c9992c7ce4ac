"""DAG budget_sync run whole by stock Airflow (dag.test) against real PostgreSQL."""

import os
import time

import pytest

from finsync.budget import config as configs
from tests.conftest import fetch
from tests.integration.dagrun import run_dag, task_states, xcom_value

pytestmark = pytest.mark.integration
DAG_ID = "budget_sync"
GOOD = """Cost Centre,Account,Period,Budget Amount,Currency
Marketing,Events,Jan 2026,"1,000.00",AUD
IT,Cloud,Jan 2026,250.50,AUD
Sales,Travel,Q1 2026,800,AUD
"""


@pytest.fixture
def customers(conn, airflow_db, tmp_path, monkeypatch):
    monkeypatch.setenv("FINSYNC_WORK_DIR", str(tmp_path / "work"))
    made = {}
    for name, text in (
        ("acme", GOOD),
        (
            "beta",
            "Employee Name,Base Salary,Overtime,Gross Pay\n"
            + "".join(f"P{i},{5000 + i},{i},{5100 + i}\n" for i in range(20)),
        ),
    ):
        inbox = tmp_path / name
        inbox.mkdir()
        (inbox / "export.csv").write_text(text)
        old = time.time() - 600
        os.utime(inbox / "export.csv", (old, old))
        made[name] = configs.add(
            conn,
            customer_id=name,
            source_type="local",
            source_config={"path": str(inbox)},
            default_currency="AUD",
            frequency="hourly",
        )
    return made


def test_scheduled_run_syncs_every_due_customer_and_reports_each(conn, customers):
    run = run_dag(DAG_ID, {})
    states = task_states(run)
    # beta's file is payroll: its mapped sync fails at once (no retries), acme's imports; the
    # summary reports both, then the last task fails the run, naming beta and why.
    assert states["report_summary"] == "success"
    assert run.state == "failed" and states["check_outcomes"] == "failed", states
    report = xcom_value(run, "report_summary")
    summary = report["customers"]
    assert summary["acme"]["status"] == "success" and summary["acme"]["created_count"] == 3
    assert summary["beta"]["status"] == "failed"
    assert "payroll" in summary["beta"]["message"]
    assert report["failed"] == {"beta": summary["beta"]["message"]}
    assert fetch(conn, "select count(*) as n from budget where customer_id = 'acme'")[0]["n"] == 3
    assert fetch(conn, "select count(*) as n from budget where customer_id = 'beta'")[0]["n"] == 0
    history = fetch(
        conn, "select customer_id, status, triggered_by, airflow_run_id from sync_history"
    )
    assert {(h["customer_id"], h["status"]) for h in history} == {
        ("acme", "success"),
        ("beta", "failed"),
    }
    assert all(h["airflow_run_id"] == run.run_id for h in history)

    # Next poll: nobody is due yet (hourly); a manual run for one customer syncs it now.
    again = run_dag(DAG_ID, {})
    assert xcom_value(again, "report_summary")["customers"] == {}
    assert again.state == "success"  # nobody synced, nobody failed
    manual = run_dag(DAG_ID, {"customer_id": "acme"})
    result = xcom_value(manual, "report_summary")["customers"]
    assert list(result) == ["acme"] and result["acme"]["status"] == "unchanged"
    assert manual.state == "success" and task_states(manual)["check_outcomes"] == "success"
    forced = run_dag(DAG_ID, {"customer_id": "acme", "force": True})
    assert xcom_value(forced, "report_summary")["customers"]["acme"]["unchanged_count"] == 3
    assert forced.state == "success"
    triggers = {
        h["triggered_by"]
        for h in fetch(conn, "select triggered_by from sync_history where customer_id = 'acme'")
    }
    assert triggers == {"manual"}  # dag.test() makes manual runs; scheduled ones say "schedule"


def test_unknown_customer_is_a_clear_failure(conn, customers):
    run = run_dag(DAG_ID, {"customer_id": "nobody"})
    states = task_states(run)
    assert states["select_customers"] == "failed"
    assert run.state == "failed" and states["check_outcomes"] == "failed"
