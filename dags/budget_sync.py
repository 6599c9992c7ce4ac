"""
### Budget sync

Imports each customer's budget export (Anaplan, Adaptive, Prophix, Oracle EPM, Planful,
Sheets, Excel) from SFTP, S3, an upload or a local folder into `budget`, exactly once per
file, in one transaction per file. See docs/budget_sync.md in the repository.

**Schedule**: hourly; each run syncs the customers whose frequency (hourly, every 4 or 12
hours, daily; `manual` never) in `budget_data_source_config` says they are due. At most 5
customers sync at once (pool `budget_sync`). **Params**: `customer_id` (sync that customer
now, whatever its schedule), `force` (re-import a file already processed).

**Outcomes** per customer (one `sync_history` row each): `success`, `partial` (rows
rejected within the customer's error tolerance; nothing soft-deleted), `unchanged` (no new
file), `needs_review`, `failed`.

**When it needs a person**: a column mapping below the confidence bar, or a file that would
soft-delete more than `max_soft_delete_pct` of the customer's budgets, stops as
`needs_review` and asks in the UI (*Required actions* / the `review_sync` task): confirm or
correct the mapping, or approve the deletions. The answer is saved and the file imported;
a rejected file ends `failed` (nothing imported; the message says who rejected it).

**Run state**: a run ends *failed* when any customer's sync failed or its review was
rejected (the last task, `check_outcomes`, names each customer and why); the other
customers' imports stay committed. Runs where every customer ended `success`, `partial`,
`unchanged` or `needs_review` stay green.

**When it fails** (triage): the customer's `sync_history.message` says what and where
(wrong file type, rejected rows with row/column/value/reason in `errors` and the reject
file, an unreachable source). The previous budgets stay in force: nothing is imported from
a failed file. Failures are notified per customer (`notify` in the config: SMTP, Slack).
Source or warehouse outages are retried with exponential back-off.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import Asset, Param, dag, get_current_context, task

POOL = "budget_sync"


def _steps():
    """finsync's budget steps, imported when a task runs (keeps DAG parsing fast)."""
    from finsync.budget import airflow_steps

    return airflow_steps


def _hitl_kwargs(review: dict) -> dict:
    return review["hitl"]


@dag(
    dag_id="budget_sync",
    schedule="@hourly",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    # A run waiting days for a review must not hold up the next hourly run or a Refresh Now:
    # runs overlap safely (one advisory lock per customer, the file ledger makes a second look
    # at the same file `unchanged`); the pool caps the customers syncing at once.
    max_active_runs=8,
    tags=["finsync", "budget"],
    doc_md=__doc__,
    default_args={
        "owner": "finsync",
        "retries": 3,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=15),
    },
    params={
        "customer_id": Param(
            None,
            type=["null", "string"],
            minLength=1,
            description="Sync only this customer, now (empty: every due customer)",
        ),
        "force": Param(
            False,
            type="boolean",
            description="Re-import the newest file even if it was processed before",
        ),
    },
)
def budget_sync():
    @task
    def select_customers() -> list[dict]:
        return _steps().select_customers(get_current_context())

    @task(pool=POOL, map_index_template="{{ customer_label }}")
    def sync_customer(customer: dict) -> dict:
        context = get_current_context()
        context["customer_label"] = customer["customer_id"]  # names the mapped task in the UI
        return _steps().sync_customer(customer, context)

    @task(trigger_rule="all_done")
    def collect_reviews() -> list[dict]:
        return _steps().collect_reviews(get_current_context())

    review_sync = HITLOperator.partial(
        task_id="review_sync",
        options=["Import", "Reject"],
        response_timeout=timedelta(days=7),
        # Airflow 3.3.2 fails a try answered before the scheduler has taken in the exit of the
        # worker that parked it in awaiting_input (a few seconds: that worker's supervisor
        # lingers up to [workers] min_heartbeat_interval). The answer resumes the same try, and
        # the scheduler then reads the parking worker's "success" as the queued or running try
        # being killed externally ("finished with state success, but the task instance's state
        # attribute is queued"): its guard only spares a resumed try still `scheduled`
        # (jobs/scheduler_job_runner.py, _process_executor_events; upstream apache/airflow#72716
        # for deferred tasks). That answer is lost; a retry asks the person again.
        retries=2,
        retry_delay=timedelta(seconds=5),
        retry_exponential_backoff=True,
    )

    # Only once every review is answered (skipped when there is nothing to review; the
    # summary below runs either way).
    @task(pool=POOL)
    def apply_reviews(reviews: list[dict], responses: list[dict] | None = None) -> list[dict]:
        return _steps().apply_reviews(reviews, list(responses or []), get_current_context())

    @task(trigger_rule="all_done", outlets=[Asset("finsync_warehouse.public.budget")])
    def report_summary() -> dict:
        return _steps().report_summary(get_current_context())

    # The run's last task: the run ends failed when a customer failed (or a review was
    # rejected); the summary above has run and reported everyone first. Its verdict is final
    # (AirflowFailException); retries only cover reaching Airflow's API.
    @task
    def check_outcomes(summary: dict) -> str:
        return _steps().check_outcomes(summary, get_current_context())

    synced = sync_customer.expand(customer=select_customers())
    reviews = collect_reviews()
    synced >> reviews
    responses = review_sync.expand_kwargs(reviews.map(_hitl_kwargs))
    applied = apply_reviews(reviews, responses.output)
    summary = report_summary()
    applied >> summary
    check_outcomes(summary)


budget_sync()
