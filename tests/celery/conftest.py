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


def pytest_configure(config) -> None:
    # Registered here too, so `-p no:xdist` runs under --strict-markers.
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
