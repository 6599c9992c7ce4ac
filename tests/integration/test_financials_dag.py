"""planning_financials_sync run whole by stock Airflow (dag.test) against real PostgreSQL."""

from datetime import UTC, date, datetime

import psycopg
import pytest

from finsync import demo
from tests.conftest import fetch
from tests.integration.dagrun import run_dag, task_states, xcom_value

pytestmark = pytest.mark.integration
DAG_ID = "planning_financials_sync"
TARGETS = (
    "account_plan_financials",
    "territory_strategy_financials",
    "business_unit_planning",
    "apac_planning_goals",
)


@pytest.fixture
def seeded(warehouse, airflow_db):
    with psycopg.connect(warehouse) as conn:
        demo.seed(conn, clients=150, first_year=2024, last_year=2026, seed=7)
    with psycopg.connect(warehouse, autocommit=True) as conn:
        yield conn


def snapshot(conn):
    return {t: fetch(conn, f"select * from {t} order by 1, 2") for t in TARGETS}


def test_run_publishes_every_level_and_a_second_run_changes_nothing(seeded):
    first = run_dag(DAG_ID, {"fiscal_year": 2026, "as_of_date": "2026-09-30"})
    assert first.state == "success", task_states(first)
    counts = {t: fetch(seeded, f"select count(*) as n from {t}")[0]["n"] for t in TARGETS}
    assert counts["account_plan_financials"] == 150
    assert counts["apac_planning_goals"] == 1
    apac = fetch(seeded, "select * from apac_planning_goals")[0]
    total = fetch(seeded, "select sum(current_arr) as s from account_plan_financials")[0]["s"]
    assert apac["current_arr"] == total and apac["financials_as_of_date"] == date(2026, 9, 30)
    summary = xcom_value(first, "report_summary")
    assert summary["tables"]["account_plan_financials"]["inserted"] == 150
    assert summary["metrics"]["total_arr"] == float(total)
    assert {"nrr_3yr_pct", "grr_3yr_pct", "gap_to_target", "target_arr"} <= set(summary["metrics"])
    assert summary["metrics"]["unassigned_clients"] >= 1  # the demo has an unmapped CSE
    before = snapshot(seeded)

    second = run_dag(DAG_ID, {"fiscal_year": 2026, "as_of_date": "2026-09-30"})
    assert second.state == "success"
    assert snapshot(seeded) == before  # same values, same synced_at
    again = xcom_value(second, "report_summary")["tables"]
    assert all(c["unchanged"] == c["staged"] and c["updated"] == 0 for c in again.values())
    assert (
        fetch(seeded, "select count(*) as n from finsync_stage.account_plan_financials")[0]["n"]
        == 0
    )


def test_dry_run_reports_and_writes_nothing(seeded):
    run = run_dag(DAG_ID, {"fiscal_year": 2026, "dry_run": True})
    assert run.state == "success"
    assert all(fetch(seeded, f"select count(*) as n from {t}")[0]["n"] == 0 for t in TARGETS)
    summary = xcom_value(run, "report_summary")
    assert summary["dry_run"] is True
    assert summary["tables"]["account_plan_financials"]["inserted"] == 150
    assert task_states(run)["announce_assets"] == "skipped"  # no asset events for a dry run


def test_bad_rows_fail_fast_and_leave_the_targets_as_they_were(seeded):
    assert run_dag(DAG_ID, {"fiscal_year": 2026}).state == "success"
    before = snapshot(seeded)
    seeded.execute(
        "update burc_pipeline_deals set probability = 1.5 "
        "where deal_id = (select min(deal_id) from burc_pipeline_deals where fiscal_year = 2026)"
    )
    seeded.execute("update burc_arr_tracking set arr = arr + 1")
    run = run_dag(DAG_ID, {"fiscal_year": 2026})
    states = task_states(run)
    assert run.state == "failed" and states["check_sources"] == "failed"
    assert states["publish_financials"] == "upstream_failed"
    assert states["cleanup_staging"] == "success"  # runs whatever failed upstream
    assert snapshot(seeded) == before


def test_a_failed_gate_fails_the_run_and_publishes_nothing(seeded):
    # Contraction beyond a client's starting ARR breaks no source rule but makes its GRR
    # negative: the gate stops it.
    seeded.execute(
        "update burc_nrr_metrics set contraction_arr = 10 * starting_arr + 1000 "
        "where client_id = (select min(client_id) from burc_nrr_metrics)"
    )
    run = run_dag(DAG_ID, {"fiscal_year": 2026})
    states = task_states(run)
    assert states["check_sources"] == "success" and states["validate_staged"] == "failed"
    assert run.state == "failed" and states["publish_financials"] == "upstream_failed"
    assert all(fetch(seeded, f"select count(*) as n from {t}")[0]["n"] == 0 for t in TARGETS)


def test_defaults_follow_the_logical_date_on_a_july_fiscal_calendar(seeded, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_FISCAL_YEAR_START_MONTH", "7")
    run = run_dag(DAG_ID, {}, logical_date=datetime(2025, 9, 15, tzinfo=UTC))
    assert run.state == "success", task_states(run)
    # 2025-09-15 lies in FY2026 (July 2025 - June 2026); as of the logical date.
    apac = fetch(seeded, "select fiscal_year, financials_as_of_date from apac_planning_goals")
    assert apac == [{"fiscal_year": 2026, "financials_as_of_date": date(2025, 9, 15)}]
    run = run_dag(DAG_ID, {"fiscal_year": 2025}, logical_date=datetime(2025, 9, 16, tzinfo=UTC))
    assert run.state == "success"
    row = fetch(
        seeded, "select financials_as_of_date from apac_planning_goals where fiscal_year = 2025"
    )
    assert row == [{"financials_as_of_date": date(2025, 6, 30)}]  # the last day of FY2025
