"""planning_compliance_sync run whole by stock Airflow (dag.test) against real PostgreSQL."""

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

import psycopg
import pytest

from finsync import demo
from tests.conftest import fetch
from tests.integration.dagrun import run_dag, task_states, xcom_value

pytestmark = pytest.mark.integration
DAG_ID = "planning_compliance_sync"
TARGETS = (
    "account_plan_event_requirements",
    "territory_compliance_summary",
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


def asset_events(dag_run) -> set[str]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(AssetModel.uri)
            .join(AssetEvent, AssetEvent.asset_id == AssetModel.id)
            .filter(
                AssetEvent.source_dag_id == dag_run.dag_id,
                AssetEvent.source_run_id == dag_run.run_id,
            )
        )
        return {uri for (uri,) in rows}


def test_run_publishes_every_level_and_a_second_run_changes_nothing(seeded):
    first = run_dag(DAG_ID, {"fiscal_year": 2026, "as_of_date": "2026-09-30"})
    assert first.state == "success", task_states(first)
    # Every pair of the sources, computed independently here: the tier in force on D
    # joined to its non-zero requirements.
    expected_pairs = fetch(
        seeded,
        """
        select count(*) as n from client_segmentation as s
        join tier_event_requirements as r on r.tier_id = s.tier_id and r.required_per_year > 0
        where s.effective_from <= '2026-09-30'
            and coalesce(s.effective_to, '2026-09-30') >= '2026-09-30'
    """,
    )[0]["n"]
    counts = {t: fetch(seeded, f"select count(*) as n from {t}")[0]["n"] for t in TARGETS}
    assert counts["account_plan_event_requirements"] == expected_pairs > 300
    assert counts["apac_planning_goals"] == 1
    apac = fetch(seeded, "select * from apac_planning_goals")[0]
    sums = fetch(
        seeded,
        """
        select sum(required_count) as required,
               sum(greatest(least(completed_count, required_count), 0)) as credited
        from account_plan_event_requirements
    """,
    )[0]
    assert apac["count_required_events"] == sums["required"]
    exact = Decimal(100 * sums["credited"]) / Decimal(sums["required"])
    assert apac["actual_compliance"] == exact.quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert apac["compliance_as_of_date"] == date(2026, 9, 30)
    assert apac["count_segmented_clients"] + apac["count_unsegmented_clients"] == 150
    assert apac["count_unsegmented_clients"] == 1  # the demo's client 17 has no tier
    summary = xcom_value(first, "report_summary")
    assert summary["tables"]["account_plan_event_requirements"]["inserted"] == expected_pairs
    assert summary["metrics"]["actual_compliance_pct"] == float(apac["actual_compliance"])
    assert summary["notes"]["clients_without_tier"] == "1: client_id=C000017"
    assert asset_events(first) == {f"finsync_warehouse.public.{t}" for t in TARGETS}
    before = snapshot(seeded)

    second = run_dag(DAG_ID, {"fiscal_year": 2026, "as_of_date": "2026-09-30"})
    assert second.state == "success"
    assert snapshot(seeded) == before  # same values, same synced_at
    again = xcom_value(second, "report_summary")["tables"]
    assert all(c["unchanged"] == c["staged"] and c["updated"] == 0 for c in again.values())
    assert (
        fetch(seeded, "select count(*) as n from finsync_stage.account_plan_event_requirements")[0][
            "n"
        ]
        == 0
    )


def test_dry_run_reports_and_writes_nothing(seeded):
    run = run_dag(DAG_ID, {"fiscal_year": 2026, "dry_run": True})
    assert run.state == "success", task_states(run)
    assert all(fetch(seeded, f"select count(*) as n from {t}")[0]["n"] == 0 for t in TARGETS)
    summary = xcom_value(run, "report_summary")
    assert summary["dry_run"] is True
    assert summary["tables"]["territory_compliance_summary"]["inserted"] == 12
    assert summary["tables"]["apac_planning_goals"]["inserted"] == 1
    assert task_states(run)["announce_assets"] == "skipped"  # no asset events for a dry run
    assert asset_events(run) == set()


def test_bad_rows_fail_fast_and_leave_the_targets_as_they_were(seeded):
    assert run_dag(DAG_ID, {"fiscal_year": 2026}).state == "success"
    before = snapshot(seeded)
    # A second tier row for one client starting the same day as its current one: ambiguous.
    seeded.execute("""
        insert into client_segmentation (client_id, tier_id, cse_name, effective_from, effective_to)
        select client_id, 'T1', cse_name, effective_from, effective_to
        from client_segmentation where client_id = 'C000001'
    """)
    seeded.execute("update segmentation_events set status = 'completed' where status = 'scheduled'")
    run = run_dag(DAG_ID, {"fiscal_year": 2026})
    states = task_states(run)
    assert run.state == "failed" and states["check_sources"] == "failed"
    assert states["publish_compliance"] == "upstream_failed"
    assert snapshot(seeded) == before


def test_a_failed_gate_fails_the_run_and_publishes_nothing(seeded):
    # A rollup that no longer adds up: a trigger adds one credited event to every territory row
    # as it is staged (as a broken rollup statement would). The sources are fine.
    seeded.execute("""
        create function finsync_stage.miscount() returns trigger language plpgsql as $$
        begin new.count_credited_events := new.count_credited_events + 1; return new; end $$;
        create trigger miscount before insert on finsync_stage.territory_compliance_summary
        for each row execute function finsync_stage.miscount();
    """)
    run = run_dag(DAG_ID, {"fiscal_year": 2026})
    states = task_states(run)
    assert states["check_sources"] == "success" and states["rollup_territory"] == "success"
    assert states["validate_staged"] == "failed"
    assert run.state == "failed" and states["publish_compliance"] == "upstream_failed"
    assert all(fetch(seeded, f"select count(*) as n from {t}")[0]["n"] == 0 for t in TARGETS)


def test_defaults_follow_the_logical_date_on_a_july_fiscal_calendar(seeded, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_FISCAL_YEAR_START_MONTH", "7")
    run = run_dag(DAG_ID, {}, logical_date=datetime(2025, 9, 15, tzinfo=UTC))
    assert run.state == "success", task_states(run)
    # 2025-09-15 lies in FY2026 (July 2025 - June 2026); as of the logical date.
    apac = fetch(seeded, "select fiscal_year, compliance_as_of_date from apac_planning_goals")
    assert apac == [{"fiscal_year": 2026, "compliance_as_of_date": date(2025, 9, 15)}]
    rows = fetch(seeded, "select distinct as_of_date from account_plan_event_requirements")
    assert rows == [{"as_of_date": date(2025, 9, 15)}]
