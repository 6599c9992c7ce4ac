"""The bridge between the planning DAGs' tasks and finsync.planning (no logic of its own).

`check_sources` resolves the run (fiscal year, as-of date, calendar) from the task context
once; the run travels to the other tasks as its XCom (PlanningRun.to_xcom), so every task
computes the same period. Each task is one PlanningSync step on the warehouse.

Data problems (bad source rows, a failed gate, a bad param) fail the task at once with
AirflowFailException: retrying cannot fix the data, and the message says what to fix.
Infrastructure errors (a dropped connection) raise as they are, so Airflow's retries with
exponential back-off apply.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from finsync.gate import GateError
from finsync.planning.common import PlanningRun, SourceDataError, resolve_run
from finsync.planning.sync import PlanningSync
from finsync.warehouse import connect


@contextmanager
def _data_errors_fail_fast() -> Iterator[None]:
    from airflow.sdk.exceptions import AirflowFailException

    try:
        yield
    except (SourceDataError, GateError, ValueError) as exc:
        raise AirflowFailException(str(exc)) from exc


@contextmanager
def _warehouse() -> Iterator[psycopg.Connection]:
    """A warehouse connection; data errors inside fail the task without retries."""
    with _data_errors_fail_fast(), connect() as conn:
        yield conn


def check_sources(sync: PlanningSync, context) -> dict:
    """Resolve the run from the params and the logical date, check the sources; the run is
    this task's XCom, the other tasks' input."""
    dag_run = context["dag_run"]
    logical = context.get("logical_date") or getattr(dag_run, "run_after", None)
    with _data_errors_fail_fast():  # a bad as_of_date or fiscal_year_start_month
        run = resolve_run(dag_run.run_id, dict(context["params"]), logical)
    with _warehouse() as conn:
        sync.start(conn, run)
    return run.to_xcom()


def stage_level(sync: PlanningSync, level: str, run: dict) -> int:
    with _warehouse() as conn:
        return sync.stage_level(conn, PlanningRun.from_xcom(run), level)


def validate_staged(sync: PlanningSync, run: dict) -> dict:
    with _warehouse() as conn:
        return sync.validate(conn, PlanningRun.from_xcom(run))


def publish(sync: PlanningSync, run: dict) -> dict:
    with _warehouse() as conn:
        return sync.publish(conn, PlanningRun.from_xcom(run))


def report_summary(sync: PlanningSync, run: dict, tables: dict) -> dict:
    with _warehouse() as conn:
        return sync.finish(conn, PlanningRun.from_xcom(run), tables)


def announce_assets(run: dict) -> None:
    """Emit the outlets' asset events, except for a dry run (which changed nothing)."""
    from airflow.sdk.exceptions import AirflowSkipException

    if run["dry_run"]:
        raise AirflowSkipException("dry run: no asset events")


def cleanup_staging(sync: PlanningSync, context) -> None:
    """This run's staging rows, whatever happened upstream (keyed by the Airflow run id)."""
    with connect() as conn:
        sync.cleanup(conn, context["run_id"])
