"""
### Budget write-back

Writes each customer's utilisation back to its own source location (local folder, SFTP, S3)
so its FP&A tool can import what procurement has committed and reserved: one row per active
budget with budgeted, committed, reserved and available, in the customer's column names and
period labels, as `finsync_utilisation.csv` (and `.xlsx` on request) in the configured
sub-folder. See docs/budget_writeback.md in the repository.

**Schedule**: hourly; each run writes the configs whose `writeback.frequency` says they are
due. **Params**: `customer_id` (write that customer's now, whatever its schedule), `force`
(write even when nothing changed).

**Outcomes** per config (one `budget_writeback_history` row each): `success`, `unchanged`
(same content as the last write-back: nothing written), `failed`.

**When it fails** (triage): `budget_writeback_history.message` says what and where. A file
under finsync's name that finsync did not write (the customer's, or edited since) is never
overwritten: the write-back is refused until someone moves that file away. An unreachable
location is retried with exponential back-off; files are written to a temporary name and
renamed, so the FP&A tool never reads half a file.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, get_current_context, task


def _steps():
    """finsync's write-back steps, imported when a task runs (keeps DAG parsing fast)."""
    from finsync.budget import writeback

    return writeback


@dag(
    dag_id="budget_writeback",
    schedule="@hourly",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
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
            description="Write back only this customer's utilisation, now (empty: every due one)",
        ),
        "force": Param(
            False, type="boolean", description="Write even when nothing changed since the last time"
        ),
    },
)
def budget_writeback():
    @task
    def select_configs() -> list[dict]:
        return _steps().select_configs(get_current_context())

    @task(map_index_template="{{ customer_label }}")
    def write_customer(item: dict) -> dict:
        context = get_current_context()
        context["customer_label"] = item["customer_id"]  # names the mapped task in the UI
        return _steps().write_customer(item, context)

    @task(trigger_rule="all_done")
    def report_summary() -> dict:
        return _steps().report_summary(get_current_context())

    @task
    def check_outcomes(summary: dict) -> str:
        return _steps().check_outcomes(summary, get_current_context())

    written = write_customer.expand(item=select_configs())
    summary = report_summary()
    written >> summary
    check_outcomes(summary)


budget_writeback()
