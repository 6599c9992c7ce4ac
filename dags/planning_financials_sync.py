"""
### Planning financials sync

Rolls BURC figures (ARR, revenue by type, NRR/GRR, pipeline, contracts, AR aging, health,
P&L, KPI targets) up **client → territory → business unit → APAC** for one fiscal year, as
set-based SQL (`include/sql/planning_financials/`), and publishes them in one transaction.

**Params**: `fiscal_year` (default: the fiscal year holding the logical date), `as_of_date`
(`YYYY-MM-DD`, default: the earlier of the logical date and the year's last day), `dry_run`.

**Writes**: `account_plan_financials`, `territory_strategy_financials` and the financials
columns of `business_unit_planning` and `apac_planning_goals` (the compliance sync owns the
others). Unchanged rows are not touched. Metric definitions: `docs/metrics.md`.

**Schedule**: daily for the current fiscal year. `airflow backfill create` over a date range
makes one run per fiscal year (its last day).

**When it fails** (triage):
- `check_sources` failed: the message names the table, the broken rule and example rows
  (e.g. probability 1.5, fiscal_month 13, duplicate keys). Fix the source rows, re-run.
  Nothing was written.
- `validate_staged` failed: a Great Expectations gate caught staged figures that do not
  reconcile or are out of range; the message names the expectation and rows. Nothing was
  written; report it with the message.
- Clients whose CSE or territory has no mapping roll up to *Unassigned* and are listed in
  the summary: add them to `cse_territory_map` / `territory_bu_map`.
- Connection errors are retried with exponential back-off; check the `finsync_warehouse`
  connection if they persist.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Asset, Param, dag, get_current_context, task

from finsync.timetables import FiscalYearTimetable

WRITES = (
    "account_plan_financials",
    "territory_strategy_financials",
    "business_unit_planning",
    "apac_planning_goals",
)


def _sync():
    from finsync.planning.sync import financials

    return financials()


def _steps():
    """finsync's planning steps, imported when a task runs (keeps DAG parsing fast)."""
    from finsync.planning import airflow_steps

    return airflow_steps


@dag(
    dag_id="planning_financials_sync",
    schedule=FiscalYearTimetable(),
    start_date=datetime(2020, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["finsync", "planning", "financials"],
    doc_md=__doc__,
    default_args={
        "owner": "finsync",
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
    },
    params={
        "fiscal_year": Param(
            None,
            type=["null", "integer"],
            minimum=2000,
            maximum=2100,
            description="Fiscal year to compute; empty = the one holding the logical date",
        ),
        "as_of_date": Param(
            None,
            type=["null", "string"],
            format="date",
            description="As-of date YYYY-MM-DD; empty = min(logical date, year end)",
        ),
        "dry_run": Param(
            False,
            type="boolean",
            description="Compute and gate everything, report the changes, write nothing",
        ),
    },
)
def planning_financials_sync():
    @task
    def check_sources() -> dict:
        return _steps().check_sources(_sync(), get_current_context())

    @task
    def stage_client_financials(run: dict) -> int:
        return _steps().stage_level(_sync(), "client", run)

    @task
    def rollup_territory(run: dict) -> int:
        return _steps().stage_level(_sync(), "territory", run)

    @task
    def rollup_business_unit(run: dict) -> int:
        return _steps().stage_level(_sync(), "business_unit", run)

    @task
    def rollup_apac(run: dict) -> int:
        return _steps().stage_level(_sync(), "apac", run)

    @task
    def validate_staged(run: dict) -> dict:
        return _steps().validate_staged(_sync(), run)

    @task
    def publish_financials(run: dict) -> dict:
        return _steps().publish(_sync(), run)

    @task
    def report_summary(run: dict, tables: dict) -> dict:
        return _steps().report_summary(_sync(), run, tables)

    @task(outlets=[Asset(f"finsync_warehouse.public.{table}") for table in WRITES])
    def announce_assets(run: dict) -> None:
        _steps().announce_assets(run)

    @task(trigger_rule="all_done", retries=0)
    def cleanup_staging() -> None:
        # Runs whatever happened upstream; staging rows are keyed by the Airflow run id.
        _steps().cleanup_staging(_sync(), get_current_context())

    run = check_sources()
    tables = publish_financials(run)
    (
        stage_client_financials(run)
        >> rollup_territory(run)
        >> rollup_business_unit(run)
        >> rollup_apac(run)
        >> validate_staged(run)
        >> tables
    )
    summary = report_summary(run, tables)
    summary >> announce_assets(run)
    summary >> cleanup_staging()


planning_financials_sync()
