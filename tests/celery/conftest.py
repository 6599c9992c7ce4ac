"""One CeleryExecutor stack for the session (stack.py): TLS PostgreSQL servers as the warehouse
and as Airflow's metadata database (two servers, so the warehouse can restart alone), Redis, the API server, scheduler, DAG processor and two
Celery workers. Every test here is in the xdist group `celery`, so under `pytest -n 2
--dist loadgroup` one worker runs them all and the stack starts once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest

from tests.celery import stack

POOL_SLOTS = 6  # budget_sync's pool: both workers' slots (2 x 3)


@dataclass
class Celery:
    stack: stack.CeleryStack
    pg: stack.TLSPostgres  # the warehouse's server
    warehouse: stack.Database
    metadata: stack.Database

    def connect(self) -> psycopg.Connection:
        """A warehouse connection for the test's own checks (TLS verify-full, as the tasks)."""
        return psycopg.connect(self.warehouse.conninfo, autocommit=True)


@pytest.fixture(scope="session")
def celery(tmp_path_factory) -> Iterator[Celery]:
    tmp = tmp_path_factory.mktemp("celery")
    with (
        stack.tls_postgres(tmp / "warehouse") as pg,
        stack.tls_postgres(tmp / "metadata") as meta,
        stack.redis_server(tmp / "redis") as broker,
    ):
        warehouse = pg.database("finsync", migrate=True)
        metadata = meta.database("airflow")
        with stack.celery_stack(
            tmp, warehouse=warehouse, metadata=metadata, broker_url=broker
        ) as running:
            running.pool("budget_sync", POOL_SLOTS)
            for dag_id in ("budget_sync", "planning_financials_sync", "planning_compliance_sync"):
                running.unpause(dag_id)
            yield Celery(running, pg, warehouse, metadata)
