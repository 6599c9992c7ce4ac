"""The bridge between Airflow task contexts and finsync's steps (used by the DAG files).

Data problems (bad source rows, a failed gate) fail the task at once with
AirflowFailException: retrying cannot fix the data, and the message says what to fix.
Infrastructure errors (a dropped connection) raise as they are, so Airflow's retries with
exponential back-off apply.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager

from finsync.gate import GateError
from finsync.planning.common import PlanningRun, SourceDataError, resolve_run
from finsync.warehouse import connect


@contextmanager
def data_errors_fail_fast():
    from airflow.sdk.exceptions import AirflowFailException

    try:
        yield
    except (SourceDataError, GateError, ValueError) as exc:
        raise AirflowFailException(str(exc)) from exc


def run_from_context(context) -> PlanningRun:
    dag_run = context["dag_run"]
    logical = context.get("logical_date") or getattr(dag_run, "run_after", None)
    with data_errors_fail_fast():
        return resolve_run(dag_run.run_id, dict(context["params"]), logical)


def step(fn: Callable, run_data: dict, *args):
    """Run fn(conn, run, *args) on the warehouse with data errors failing fast."""
    run = PlanningRun.from_xcom(run_data)
    with data_errors_fail_fast(), connect() as conn:
        return fn(conn, run, *args)


def start_run(sync, context) -> dict:
    """Resolve the run's fiscal year and as-of date, check the sources; the run for XCom."""
    from finsync.planning import sync as steps

    run = run_from_context(context)
    step(lambda conn, r: steps.start(sync, conn, r), run.to_xcom())
    return run.to_xcom()


def stage_level(sync, level: str, run_data: dict) -> int:
    from finsync.planning import sync as steps

    return step(lambda conn, r: steps.stage_level(sync, conn, r, level), run_data)


def validate_staged(sync, run_data: dict) -> dict:
    from finsync.planning import sync as steps

    return step(lambda conn, r: steps.validate(sync, conn, r), run_data)


def publish(sync, run_data: dict) -> dict:
    from finsync.planning import sync as steps

    return step(lambda conn, r: steps.publish(sync, conn, r), run_data)


def report_summary(sync, run_data: dict, tables: dict) -> dict:
    from finsync.planning import sync as steps

    return step(lambda conn, r: steps.finish(sync, conn, r, tables), run_data)


def announce_assets(run_data: dict) -> None:
    """Emit the outlets' asset events, except for a dry run (which changed nothing)."""
    from airflow.sdk.exceptions import AirflowSkipException

    if run_data["dry_run"]:
        raise AirflowSkipException("dry run: no asset events")


def cleanup_staging(sync, run_id: str) -> None:
    from finsync.planning.common import cleanup

    with connect() as conn:
        cleanup(conn, sync.stage_tables, run_id)
