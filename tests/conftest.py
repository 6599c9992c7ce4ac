"""Shared test harness: a real PostgreSQL (the embedded default, in a home of the session's
own), a migrated template database cloned per test, and Airflow's metadata database for DAG runs.

The session never reaches the user's finsync or Airflow: whatever `make` exports
(FINSYNC_HOME) or `eval "$(finsync env)"` put in the shell (AIRFLOW_HOME, the metadata DB,
connections, variables) is dropped before anything imports Airflow, and the session gets a
FINSYNC_HOME of its own in a new temporary directory: its own embedded PostgreSQL (warehouse
databases and Airflow's metadata database) and its own Airflow home. When the session ends the
server is stopped, the directory removed, and no process a test started may still run.

Each test that needs a warehouse gets its own database (a clone of the migrated template:
~0.1 s) and the Airflow connection `finsync_warehouse` pointing at it, exactly as a deployment
would configure it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
for _key in [k for k in os.environ if k.startswith(("FINSYNC_", "AIRFLOW_"))]:
    del os.environ[_key]  # AIRFLOW_HOME, AIRFLOW__*, AIRFLOW_CONN_*, AIRFLOW_VAR_*, FINSYNC_*
SESSION_HOME = Path(tempfile.mkdtemp(prefix="finsync-test-")).resolve()
os.environ["FINSYNC_HOME"] = str(SESSION_HOME)
# A fresh metadata DB: a scheduler would start every unpaused DAG's latest run. Tests unpause
# the DAGs they run.
os.environ["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "True"

from finsync import airflow_env, embedded  # noqa: E402

airflow_env.apply()

import psycopg  # noqa: E402

from tests import processes  # noqa: E402

processes.claim(SESSION_HOME)
processes.sweep_stale_homes(SESSION_HOME)  # of sessions killed before their teardown


def _interrupted(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")  # pytest then tears the session down


signal.signal(signal.SIGTERM, _interrupted)  # e.g. `timeout`: the teardown still runs

TEMPLATE = "finsync_template"


def _end_session_home() -> None:
    """Stop the session's embedded server and remove its home (idempotent)."""
    if "airflow.settings" in sys.modules:  # in-process DAG runs: close their pool first
        sys.modules["airflow.settings"].dispose_orm()
    if SESSION_HOME.exists():
        embedded.stop()
        shutil.rmtree(SESSION_HOME)


@pytest.fixture(scope="session", autouse=True)
def session_home():
    """The session's FINSYNC_HOME; torn down last: the server stopped, the home removed, and
    then no process started by a test may still run (killed, and the session fails, if any)."""
    yield SESSION_HOME
    _end_session_home()
    left = processes.leftovers(("FINSYNC_HOME", str(SESSION_HOME)))
    described = processes.describe(left)
    for p in left:
        p.kill()
    assert not left, f"processes started by the tests outlived them:\n{described}"


def pytest_unconfigure(config) -> None:
    _end_session_home()  # also when no test ran (the fixture above never started)


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
    """Airflow's metadata database on the session's embedded server, migrated once."""
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


def pytest_configure(config) -> None:
    # Registered here, so `-p no:xdist` runs under --strict-markers.
    config.addinivalue_line("markers", "xdist_group(name): run the group on one xdist worker")


def pytest_collection_modifyitems(config, items) -> None:
    """Name each test's xdist group in its node id (`...::test_x@celery`), which is how
    `--dist loadgroup` finds groups: pytest-xdist 3.8 writes the suffix to `item._nodeid`,
    which pytest 9.2 no longer reads (a node's id is `item._id`), so without this the group's
    tests were spread over both workers and each started a stack of its own."""
    if not getattr(config.option, "loadgroup", False):
        return
    from _pytest.nodeid import coerce_node_id

    for item in items:
        names = sorted(
            {
                str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                for m in item.iter_markers("xdist_group")
            }
        )
        suffix = "@" + "_".join(names)
        if names and not item.nodeid.endswith(suffix):
            item._id = coerce_node_id(item.nodeid + suffix)
