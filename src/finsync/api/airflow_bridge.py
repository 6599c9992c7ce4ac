"""What the budget service asks of Airflow: start a `budget_sync` run, list runs under way.

Through Airflow's own code and metadata database (the service runs inside Airflow's API
server), so a run started here is an ordinary DAG run: scheduled by Airflow's executor, seen
in the UI, retried and notified like any other.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.concurrency import run_in_threadpool

from finsync.api import db
from finsync.api.errors import NotFound, Unavailable
from finsync.budget.model import API_RUN_PREFIX

DAG_ID = "budget_sync"


async def start_run(customer_id: str, *, force: bool, user: str) -> dict[str, Any]:
    """Start a `budget_sync` run for a customer with an enabled source config (POST
    /sync/trigger, POST /files/import)."""
    found = await db.rows(
        "select 1 from budget_data_source_config where customer_id = %s and enabled", (customer_id,)
    )
    if not found:
        raise NotFound(f"customer {customer_id!r} has no enabled source config")
    try:
        return await run_in_threadpool(trigger, customer_id, force=force, user=user)
    except LookupError as exc:
        raise Unavailable(str(exc)) from None


def trigger(customer_id: str, *, force: bool, user: str) -> dict[str, Any]:
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.exceptions import DagNotFound
    from airflow.utils.types import DagRunTriggeredByType

    run_id = f"{API_RUN_PREFIX}{customer_id}__{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
    try:
        run = trigger_dag(
            DAG_ID,
            triggered_by=DagRunTriggeredByType.REST_API,
            run_id=run_id,
            conf={"customer_id": customer_id, "force": force},
            triggering_user_name=user,
            note=f"started through the budget service by {user}",
        )
    except DagNotFound:
        raise LookupError(
            f"the {DAG_ID} DAG is not known to Airflow yet (is the DAG processor running?)"
        ) from None
    if run is None:
        raise LookupError(f"Airflow did not start a {DAG_ID} run for customer {customer_id!r}")
    return {"dag_run_id": run.run_id, "state": str(run.state), "customer_id": customer_id}


def active_runs() -> list[dict[str, Any]]:
    """`budget_sync` runs queued or running, with the customer each was started for."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState

    with create_session() as session:
        runs = (
            session.query(DagRun)
            .filter(
                DagRun.dag_id == DAG_ID, DagRun.state.in_([DagRunState.QUEUED, DagRunState.RUNNING])
            )
            .order_by(DagRun.run_after.desc())
            .all()
        )
        return [
            {
                "dag_run_id": r.run_id,
                "state": str(r.state),
                "customer_id": (r.conf or {}).get("customer_id"),
                "run_type": str(r.run_type),
                "queued_at": r.queued_at,
                "start_date": r.start_date,
            }
            for r in runs
        ]
