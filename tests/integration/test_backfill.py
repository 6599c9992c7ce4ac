"""`airflow backfill create` over FY2024..FY2025 with a real scheduler and API server:
one run per fiscal year, as of its last day, and re-running the backfill changes nothing."""

import time
from datetime import date

import psycopg
import pytest

from finsync import demo
from tests.conftest import fetch
from tests.integration.conftest import run_airflow

pytestmark = pytest.mark.integration
DAG_ID = "planning_financials_sync"


def _backfill_runs(env, expected: int, timeout: float = 300) -> list[dict]:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.types import DagRunType

    deadline = time.time() + timeout
    while time.time() < deadline:
        with create_session() as session:
            runs = [
                {"logical_date": r.logical_date.date(), "state": str(r.state), "conf": r.conf}
                for r in session.query(DagRun).filter(
                    DagRun.dag_id == DAG_ID, DagRun.run_type == DagRunType.BACKFILL_JOB
                )
            ]
        done = [r for r in runs if r["state"] in ("success", "failed")]
        if len(done) >= expected:
            return sorted(done, key=lambda r: r["logical_date"])
        time.sleep(2)
    raise AssertionError(f"backfill runs did not finish: {runs}")


def _clear_backfill_runs():
    from airflow.models.backfill import Backfill, BackfillDagRun
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.types import DagRunType

    with create_session() as session:
        session.query(BackfillDagRun).delete()
        session.query(DagRun).filter(
            DagRun.dag_id == DAG_ID, DagRun.run_type == DagRunType.BACKFILL_JOB
        ).delete()
        session.query(Backfill).delete()


def test_backfill_recomputes_one_run_per_fiscal_year_idempotently(warehouse, airflow_services):
    env = airflow_services
    run_airflow(env, "dags", "unpause", DAG_ID)
    with psycopg.connect(warehouse) as conn:
        demo.seed(conn, clients=150, first_year=2023, last_year=2025, seed=3)
    _clear_backfill_runs()
    run_airflow(
        env,
        "backfill",
        "create",
        "--dag-id",
        DAG_ID,
        "--from-date",
        "2024-01-01",
        "--to-date",
        "2025-12-31",
    )
    runs = _backfill_runs(env, 2)
    assert [(r["logical_date"], r["state"]) for r in runs] == [
        (date(2024, 12, 31), "success"),
        (date(2025, 12, 31), "success"),
    ]
    with psycopg.connect(warehouse, autocommit=True) as conn:
        goals = fetch(
            conn,
            "select fiscal_year, financials_as_of_date, synced_at "
            "from apac_planning_goals where fiscal_year < 2026 order by fiscal_year",
        )
        assert [(g["fiscal_year"], g["financials_as_of_date"]) for g in goals] == [
            (2024, date(2024, 12, 31)),
            (2025, date(2025, 12, 31)),
        ]
        clients = fetch(
            conn,
            "select fiscal_year, count(*) as n, max(synced_at) as at "
            "from account_plan_financials where fiscal_year < 2026 group by 1 order by 1",
        )
        assert [(c["fiscal_year"], c["n"]) for c in clients] == [(2024, 150), (2025, 150)]

    # The same backfill again, reprocessing completed runs: recomputed, nothing changes.
    _clear_backfill_runs()
    run_airflow(
        env,
        "backfill",
        "create",
        "--dag-id",
        DAG_ID,
        "--from-date",
        "2024-01-01",
        "--to-date",
        "2025-12-31",
        "--reprocess-behavior",
        "completed",
    )
    assert [r["state"] for r in _backfill_runs(env, 2)] == ["success", "success"]
    with psycopg.connect(warehouse, autocommit=True) as conn:
        assert (
            fetch(
                conn,
                "select fiscal_year, financials_as_of_date, synced_at "
                "from apac_planning_goals where fiscal_year < 2026 order by fiscal_year",
            )
            == goals
        )
        assert (
            fetch(
                conn,
                "select fiscal_year, count(*) as n, max(synced_at) as at "
                "from account_plan_financials where fiscal_year < 2026 group by 1 order by 1",
            )
            == clients
        )
