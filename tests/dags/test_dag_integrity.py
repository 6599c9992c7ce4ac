"""DagBag suite: import errors, tags, retries, task ids, params, SQL templates, parse speed."""

import re
from pathlib import Path

import psycopg
import pytest

from finsync import SQL_DIR, sql

ROOT = Path(__file__).resolve().parents[2]
TAG_ALLOW_LIST = {"finsync", "planning", "financials", "compliance", "budget"}
EXPECTED_TASKS = {
    "budget_sync": {
        "select_customers",
        "sync_customer",
        "collect_reviews",
        "review_sync",
        "apply_reviews",
        "report_summary",
        "check_outcomes",
    },
    "budget_writeback": {"select_configs", "write_customer", "report_summary", "check_outcomes"},
    "budget_webhooks": {"announce_threshold_crossings", "deliver_due_webhooks"},
    "planning_financials_sync": {
        "check_sources",
        "stage_client_financials",
        "rollup_territory",
        "rollup_business_unit",
        "rollup_apac",
        "validate_staged",
        "publish_financials",
        "report_summary",
        "announce_assets",
        "cleanup_staging",
    },
    "planning_compliance_sync": {
        "check_sources",
        "stage_client_requirements",
        "rollup_territory",
        "rollup_business_unit",
        "rollup_apac",
        "validate_staged",
        "publish_compliance",
        "report_summary",
        "announce_assets",
        "cleanup_staging",
    },
}


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


def test_one_dag_per_file_named_after_it(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert Path(dag.fileloc).stem == dag_id


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_TASKS))
def test_expected_tasks(dagbag, dag_id):
    assert set(dagbag.dags[dag_id].task_ids) == EXPECTED_TASKS[dag_id]


def test_tags_retries_and_loader_settings(dagbag):
    for dag in dagbag.dags.values():
        assert dag.tags and set(dag.tags) <= TAG_ALLOW_LIST, dag.dag_id
        assert dag.catchup is False
        # planning runs share staging tables: one at a time; budget runs overlap (a review may
        # wait for days) and serialise per customer through an advisory lock
        assert dag.max_active_runs == (8 if dag.dag_id == "budget_sync" else 1), dag.dag_id
        assert dag.doc_md and "When it fails" in dag.doc_md
        for task in dag.tasks:
            if task.task_id != "cleanup_staging":  # cleanup runs whatever happened
                assert task.retries >= 2, task.task_id
                assert task.retry_exponential_backoff
            assert re.fullmatch(r"[a-z]+(_[a-z0-9]+)+", task.task_id), task.task_id


def test_params_are_typed_and_described(dagbag):
    for dag in dagbag.dags.values():
        for name, param in dag.params.items():
            param = dag.params.get_param(name)
            assert "type" in param.schema and param.description, (dag.dag_id, name)


def test_dag_files_do_no_io_at_import(monkeypatch):
    # Any database connection at parse time would be a bug: make it explode.
    def boom(*args, **kwargs):
        raise AssertionError("DAG file touched the database at parse time")

    monkeypatch.setattr(psycopg, "connect", boom)
    from airflow.dag_processing.dagbag import DagBag

    assert DagBag(dag_folder=str(ROOT / "dags")).import_errors == {}


PARAMS = {
    "run_id": "x",
    "fiscal_year": 2026,
    "as_of_date": "2026-03-31",
    "year_start": "2026-01-01",
    "year_end": "2026-12-31",
    "as_of_fiscal_month": 3,
    "days_elapsed": 90,
    "seed": 1,
    "client_count": 10,
    "first_year": 2024,
    "last_year": 2026,
    "start_month": 1,
    "customer_id": "acme",
    "sync_id": 1,
    "source": "f.csv",
    "actor": "system:sync",
    "departments": ["IT"],
    "sub_categories": [None],
    "fiscal_periods": ["FY2026"],
}
SQL_FILES = sorted(p for p in SQL_DIR.rglob("*.sql") if p.parent.name != "migrations")


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_sql_template_renders_and_plans(path, warehouse):
    """Bound parameters only; the statement must plan against the migrated schema."""
    text = path.read_text()
    names = set(re.findall(r"%\((\w+)\)s", text))
    assert names <= set(PARAMS), f"unknown parameters {names - set(PARAMS)}"
    assert not re.search(r"\{[a-z_]+\}|%s(?!\w)", text), "SQL must use named bound parameters only"
    with psycopg.connect(warehouse) as conn:  # one transaction, rolled back
        conn.execute(
            "create or replace function finsync_demo_rand(key text, seed bigint) "
            "returns float8 language sql immutable as $$ select 0.5::float8 $$"
        )
        stage = "01_create_budget_stage.sql"
        diffs = ("02_diff_budgets.sql", "02_diff_new_customer.sql")  # either makes budget_diff
        if path.parent.name == "budget_sync" and path.name != stage:
            conn.execute(sql.load("budget_sync", stage))  # the import reads its temp tables
            if path.name not in diffs:
                conn.execute(sql.load("budget_sync", "02_diff_budgets.sql"), PARAMS)
        statement = "\n".join(x for x in text.splitlines() if not x.startswith("--")).lstrip()
        if statement.startswith("create"):  # DDL (a helper function, a temp table): run it
            conn.execute(text, PARAMS)
        else:
            conn.execute("explain " + text, PARAMS)
        conn.rollback()


def test_numbered_files_are_in_order():
    for area in (
        "migrations",
        "planning_financials",
        "planning_compliance",
        "demo",
        "budget_sync",
        "budget_writeback",
    ):
        names = [p.name for p in sql.numbered_files(area)]
        assert names == sorted(names) and names


def test_staging_columns_match_target_types(warehouse):
    """A staging table's columns are the sync's owned columns, typed as in the target."""
    from finsync.planning import compliance, financials

    with psycopg.connect(warehouse) as conn:
        for target in financials.TARGETS + compliance.TARGETS:
            rows = conn.execute(
                """
                select s.column_name, s.data_type, s.numeric_precision, s.numeric_scale,
                       t.data_type, t.numeric_precision, t.numeric_scale
                from information_schema.columns s
                left join information_schema.columns t
                    on t.table_schema = 'public' and t.table_name = %s and t.column_name = s.column_name
                where s.table_schema = 'finsync_stage' and s.table_name = %s and s.column_name <> 'run_id'
                """,
                (target.table, target.stage_table),
            ).fetchall()
            assert rows
            for name, *types in rows:
                assert types[:3] == types[3:], (target.table, name)
