"""finsync.warehouse: the connection's TLS extras reach libpq, an unreachable server is retried
with a bounded back-off that never shows the password, a permanent refusal is not retried.
(The warehouse restarting under running syncs: tests/celery.)"""

from __future__ import annotations

import json
import logging
import socket

import pytest

from finsync import embedded, warehouse

SECRET = "s3cret-Pw-4711"


def test_the_connection_json_carries_password_and_tls_extras(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_FINSYNC_WAREHOUSE",
        json.dumps(
            {
                "conn_type": "postgres",
                "host": "db.internal",
                "port": 5433,
                "login": "finsync",
                "password": SECRET,
                "schema": "warehouse",
                "extra": {"sslmode": "verify-full", "sslrootcert": "/etc/finsync/ca.crt"},
            }
        ),
    )
    conninfo = warehouse.resolve_conninfo()
    info = dict(part.split("=", 1) for part in conninfo.split())
    assert info == {
        "host": "db.internal",
        "port": "5433",
        "user": "finsync",
        "password": SECRET,
        "dbname": "warehouse",
        "sslmode": "verify-full",
        "sslrootcert": "/etc/finsync/ca.crt",
    }
    assert warehouse.describe(conninfo) == "db.internal:5433/warehouse"


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once closed


def test_an_unreachable_server_is_retried_with_back_off_then_a_clear_error(closed_port, caplog):
    conninfo = f"host=127.0.0.1 port={closed_port} user=finsync password={SECRET} dbname=wh"
    with caplog.at_level(logging.WARNING, logger="finsync.warehouse"):
        with pytest.raises(RuntimeError) as failed:
            warehouse._connect_with_backoff(conninfo, True, delays=(0.01, 0.02))
    message = str(failed.value)
    assert message.startswith(f"cannot connect to the warehouse at 127.0.0.1:{closed_port}/wh")
    assert "Connection refused" in message and "(after 3 attempts)" in message
    waits = [r.getMessage() for r in caplog.records]
    assert len(waits) == 2
    assert "retrying in 0.0 s (attempt 2 of 3)" in waits[0]
    assert f"warehouse at 127.0.0.1:{closed_port}/wh unreachable" in waits[0]
    assert all(SECRET not in text for text in [message, *waits])


def test_connect_without_retry_tries_once(closed_port, caplog):
    conninfo = f"host=127.0.0.1 port={closed_port} user=finsync password={SECRET} dbname=wh"
    with caplog.at_level(logging.WARNING, logger="finsync.warehouse"):
        with pytest.raises(RuntimeError, match="Connection refused") as failed:
            with warehouse.connect(conninfo, retry=False):
                pass
    assert "attempts" not in str(failed.value) and not caplog.records


def test_a_permanent_refusal_is_not_retried(caplog):
    conninfo = embedded.conninfo("no_such_database_here")
    with caplog.at_level(logging.WARNING, logger="finsync.warehouse"):
        with pytest.raises(RuntimeError, match='database "no_such_database_here" does not exist'):
            warehouse._connect_with_backoff(conninfo, True, delays=(5.0,))
    assert not caplog.records  # no wait: no back-off cures it
