"""Shared test harness: a real PostgreSQL (the embedded default, under .finsync/test), a
migrated template database cloned per test, and Airflow's metadata database for DAG runs.

Environment is set before anything imports Airflow. Each test that needs a warehouse gets
its own database (a clone of the migrated template: ~0.1 s) and the Airflow connection
`finsync_warehouse` pointing at it, exactly as a deployment would configure it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("FINSYNC_HOME", str(ROOT / ".finsync" / "test"))
os.environ.pop("AIRFLOW_CONN_FINSYNC_WAREHOUSE", None)
os.environ.pop("FINSYNC_WAREHOUSE_DSN", None)
os.environ.pop("AIRFLOW_VAR_FISCAL_YEAR_START_MONTH", None)

from finsync import airflow_env, embedded  # noqa: E402

airflow_env.apply()

import psycopg  # noqa: E402

TEMPLATE = "finsync_template"


def _admin() -> psycopg.Connection:
    return psycopg.connect(embedded.conninfo("postgres"), autocommit=True)


@pytest.fixture(scope="session")
def template_db() -> str:
    """A freshly migrated template database (rebuilt each session, so migrations are tested)."""
    from finsync import migrate

    with _admin() as admin:
        admin.execute(f'drop database if exists "{TEMPLATE}" with (force)')
        admin.execute(f'create database "{TEMPLATE}"')
    with psycopg.connect(embedded.conninfo(TEMPLATE), autocommit=True) as conn:
        migrate.migrate(conn)
    return TEMPLATE


@pytest.fixture
def warehouse(template_db, monkeypatch) -> str:
    """conninfo of a new migrated database, also set as the Airflow connection finsync_warehouse."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with _admin() as admin:
        admin.execute(f'create database "{name}" template "{template_db}"')
    monkeypatch.setenv("AIRFLOW_CONN_FINSYNC_WAREHOUSE", embedded.uri(name))
    yield embedded.conninfo(name)
    with _admin() as admin:
        admin.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture
def conn(warehouse):
    with psycopg.connect(warehouse, autocommit=True) as connection:
        yield connection


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Airflow's metadata database on the embedded server, migrated once per session."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run(
        [airflow, "db", "migrate"], check=True, capture_output=True, env=os.environ.copy()
    )


def insert(conn: psycopg.Connection, table: str, rows: list[dict]) -> None:
    """Insert hand-built rows (dicts with the same keys) into a table."""
    if not rows:
        return
    columns = list(rows[0])
    placeholders = ", ".join(["%s"] * len(columns))
    with conn.cursor() as cur:
        cur.executemany(
            f"insert into {table} ({', '.join(columns)}) values ({placeholders})",
            [tuple(r[c] for c in columns) for r in rows],
        )


def fetch(conn: psycopg.Connection, query: str, params=None) -> list[dict]:
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute(query, params)
        return cur.fetchall()
