"""Shared set-up for the budget service's tests: a customer with budgets, tokens, a database
for a whole module, a real uvicorn server, and the budget_sync DAG in Airflow's metadata DB."""

from __future__ import annotations

import os
import socket
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from finsync import embedded
from finsync.api.dependencies import create_token
from tests import processes


def seed_customer(
    conn: psycopg.Connection,
    customer_id: str = "acme",
    *,
    budgets: list[tuple] = (),
    frequency: str = "daily",
    fy_start: int = 1,
    synced: bool = True,
) -> int:
    """A config, the given budgets ((department, sub_category, period, amount[, currency])),
    and (synced=True) a successful sync just now."""
    config_id = conn.execute(
        "insert into budget_data_source_config (customer_id, source_type, frequency, "
        "source_config, fiscal_year_start_month) values (%s, 'local', %s, %s, %s) "
        "returning config_id",
        (customer_id, frequency, '{"path": "/tmp/none"}', fy_start),
    ).fetchone()[0]
    for department, sub_category, period, amount, *currency in budgets:
        conn.execute(
            "insert into budget (customer_id, department, sub_category, fiscal_period, "
            "budgeted_amount, currency, source) values (%s, %s, %s, %s, %s, %s, 'test')",
            (customer_id, department, sub_category, period, amount, (currency or ["USD"])[0]),
        )
    if synced:
        conn.execute(
            "insert into sync_history (customer_id, config_id, status, end_time) "
            "values (%s, %s, 'success', now())",
            (customer_id, config_id),
        )
    return config_id


def tokens(conn: psycopg.Connection, *customers: str) -> dict[str, str]:
    """An admin token and one customer token per customer: {'admin': ..., customer: ...}."""
    out = {"admin": create_token(conn, name="admin", scope="admin")}
    for c in customers:
        out[c] = create_token(conn, name=f"{c}-app", scope="customer", customer_id=c)
    return out


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


_serialized: list[bool] = []


@pytest.fixture(scope="session")
def budget_sync_dag(airflow_db) -> None:
    """Airflow's metadata database with the project's DAGs serialized (as the DAG processor
    would), so the budget service can start `budget_sync` runs in-process. Modules import this
    fixture, which makes one session fixture per module: the work is done once per process."""
    from tests.integration.conftest import run_airflow

    if not _serialized:
        run_airflow(os.environ.copy(), "dags", "reserialize")
        _serialized.append(True)


@contextmanager
def scratch_database(template: str) -> Iterator[str]:
    """A database cloned from the migrated template, the `finsync_warehouse` connection while
    in use (for a module's worth of tests on one database); yields its conninfo."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(embedded.conninfo("postgres"), autocommit=True) as admin:
        admin.execute(f'create database "{name}" template "{template}"')
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("AIRFLOW_CONN_FINSYNC_WAREHOUSE", embedded.uri(name))
            yield embedded.conninfo(name)
    finally:
        with psycopg.connect(embedded.conninfo("postgres"), autocommit=True) as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')


@contextmanager
def uvicorn_server(log: Path, **env: str) -> Iterator[str]:
    """The budget service served by a real uvicorn process on a free loopback port, with this
    process's environment (the warehouse connection included) plus `env`; yields its URL.
    Stopped with SIGTERM (its whole process group), so its lifespan closes the connection pool."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "uvicorn", "finsync.api.main:app", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--log-level", "warning", "--no-access-log"]
    url = f"http://127.0.0.1:{port}"
    with processes.serving(cmd, env={**os.environ, **env}, log=log, ready=f"{url}/openapi.json"):
        yield url
