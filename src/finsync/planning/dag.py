"""The planning DAGs' one shape (dags/planning_financials_sync.py and
dags/planning_compliance_sync.py name their sync and what differs): check the sources, stage
each level of the roll-up client -> territory -> business unit -> APAC, validate the staged
rows, publish them in one transaction, report, announce the written tables as assets and
clean the run's staging rows whatever happened. Every task calls finsync.planning's steps,
imported when the task runs (DAG parsing stays fast)."""

from __future__ import annotations

from datetime import datetime, timedelta


def planning_dag(
    *,
    dag_id: str,
    sync: str,
    stage_client: str,
    publish: str,
    writes: tuple[str, ...],
    as_of_description: str,
    doc_md: str | None,
    fileloc: str,
):
    """The DAG `dag_id` of the planning sync finsync.planning.sync.<sync>() (`financials` or
    `compliance`); `stage_client` and `publish` are the task ids of its client-level staging
    and its publish, `writes` the tables it publishes, `fileloc` the DAG file (what the
    Airflow UI shows as the DAG's code)."""
    from airflow.sdk import Asset, Param, chain, dag, get_current_context, task

    from finsync.timetables import FiscalYearTimetable

    def _sync():
        from finsync.planning import sync as syncs

        return getattr(syncs, sync)()

    def _steps():
        from finsync.planning import airflow_steps

        return airflow_steps

    @dag(
        dag_id=dag_id,
        schedule=FiscalYearTimetable(),
        start_date=datetime(2020, 1, 1),
        catchup=False,
        max_active_runs=1,
        tags=["finsync", "planning", sync],
        doc_md=doc_md,
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
                None, type=["null", "string"], format="date", description=as_of_description
            ),
            "dry_run": Param(
                False,
                type="boolean",
                description="Compute and gate everything, report the changes, write nothing",
            ),
        },
    )
    def planning():
        # (a task's arguments are XComArgs when the DAG is built, its values when it runs:
        # left unannotated)
        @task
        def check_sources() -> dict:
            return _steps().check_sources(_sync(), get_current_context())

        @task
        def stage_level(level: str, run) -> int:
            return _steps().stage_level(_sync(), level, run)

        @task
        def validate_staged(run) -> dict:
            return _steps().validate_staged(_sync(), run)

        @task(task_id=publish)
        def publish_all(run) -> dict:
            return _steps().publish(_sync(), run)

        @task
        def report_summary(run, tables) -> dict:
            return _steps().report_summary(_sync(), run, tables)

        @task(outlets=[Asset(f"finsync_warehouse.public.{table}") for table in writes])
        def announce_assets(run) -> None:
            _steps().announce_assets(run)

        @task(trigger_rule="all_done", retries=0)
        def cleanup_staging() -> None:
            # Runs whatever happened upstream; staging rows are keyed by the Airflow run id.
            _steps().cleanup_staging(_sync(), get_current_context())

        run = check_sources()
        tables = publish_all(run)
        levels = {
            stage_client: "client",
            "rollup_territory": "territory",
            "rollup_business_unit": "business_unit",
            "rollup_apac": "apac",
        }
        staged = [stage_level.override(task_id=t)(level, run) for t, level in levels.items()]
        chain(*staged, validate_staged(run), tables)
        summary = report_summary(run, tables)
        summary >> announce_assets(run)
        summary >> cleanup_staging()

    built = planning()
    built.fileloc = fileloc  # the DAG file, not this module (@dag records its caller)
    return built
