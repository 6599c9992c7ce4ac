"""
### Budget webhooks

Delivers finsync's signed webhook events (Standard Webhooks) to the endpoints in customers'
configs, outside every sync and every budget request. See docs/webhooks.md in the repository.

**Every 5 minutes**: `announce_threshold_crossings` turns new threshold crossings (recorded by
the budget service's reservations and commitments, one per budget and threshold) into
`budget.threshold_crossed` events and notifications (the config's `notify` channels);
`deliver_due_webhooks` then sends every event that is due: those first tries and the retries
of sync events (`sync.*`) whose first try, right after the sync attempt, failed.

**Back-off**: 5, 10, 20, 40, 80, 160 minutes, then every 4 hours; an event not delivered a day
after it was created is given up (`webhook_event.status = failed`). Every try is a row in
`webhook_delivery` (status code, error, duration).

**When it fails** (triage): a failing endpoint never fails this DAG; its tries are in
`webhook_delivery.error` (`HTTP 500`, `no answer within 10 s`, a missing or malformed signing
secret in the Airflow connection named by the endpoint's `conn_id`). A failed task means the
warehouse was unreachable: it is retried, and nothing is lost (events wait in `webhook_event`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, get_current_context, task


def _webhooks():
    """finsync's webhook logic, imported when a task runs (keeps DAG parsing fast)."""
    from finsync.budget import webhooks

    return webhooks


@dag(
    dag_id="budget_webhooks",
    schedule="*/5 * * * *",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["finsync", "budget"],
    doc_md=__doc__,
    default_args={
        "owner": "finsync",
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=5),
    },
)
def budget_webhooks():
    @task
    def announce_threshold_crossings() -> dict:
        return _webhooks().announce_crossings_task(get_current_context())

    @task(trigger_rule="all_done")
    def deliver_due_webhooks() -> dict:
        return _webhooks().deliver_due_task(get_current_context())

    announce_threshold_crossings() >> deliver_due_webhooks()


budget_webhooks()
