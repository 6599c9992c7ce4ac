"""Where the warehouse is: the Airflow connection `finsync_warehouse`, else the embedded default.

The connection is looked up the way Airflow does it (environment variable
`AIRFLOW_CONN_FINSYNC_WAREHOUSE`, a secrets backend, or the metastore inside a task).
Without one, finsync starts (or reuses) an embedded PostgreSQL under `FINSYNC_HOME`.
Credentials never leave the connection object: they are not logged and not put in errors.

A server that does not answer (restarting, failing over, not up yet) is retried with a short
bounded back-off (`CONNECT_RETRY_DELAYS`, about 30 s in all) before `connect` gives up; a
refused login, a missing database or a certificate that does not verify is not retried. A
connection lost in the middle of a task's work is that task's failure: Airflow retries the
task (the DAGs' `retries`, with back-off), and every write is one transaction, so nothing
half-done stays.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar
from urllib.parse import unquote

import psycopg

CONN_ID = "finsync_warehouse"
log = logging.getLogger(__name__)
# Seconds to wait before each further attempt when the server does not answer.
CONNECT_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)
# What a server that is down, restarting or overloaded answers (libpq gives no SQLSTATE before
# a session exists); anything else (a refused login, a missing database, a certificate that
# does not verify) no wait cures, and is not retried.
_TRANSIENT = re.compile(
    "connection refused|no such file or directory|starting up|shutting down|recovery mode"
    "|not yet accepting connections|timeout expired|server closed the connection"
    "|terminating connection|too many clients|connection reset|could not receive data"
    "|could not send|network is unreachable|no route to host|temporary failure in name",
    re.IGNORECASE,
)


Row = TypeVar("Row")


def one(cursor: psycopg.Cursor[Row]) -> Row:
    """The row a statement returns by construction (an aggregate, an insert's `returning`)."""
    row = cursor.fetchone()
    if row is None:
        raise RuntimeError("the statement returned no row")
    return row


def _conninfo_from_airflow_connection(conn) -> str:
    """psycopg conninfo from an Airflow Connection (host may be a Unix socket directory)."""
    params: dict[str, str | int | None] = {
        "host": unquote(conn.host) if conn.host else None,
        "port": conn.port,
        "user": conn.login,
        "password": conn.password,
        "dbname": conn.schema or "postgres",
    }
    extra = conn.extra_dejson if conn.extra else {}
    for key in ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "options"):
        if key in extra:
            params[key] = extra[key]
    return psycopg.conninfo.make_conninfo(
        "", **{k: v for k, v in params.items() if v not in (None, "")}
    )


def _airflow_connection():
    """The `finsync_warehouse` Airflow connection, or None when none is defined."""
    if os.environ.get(f"AIRFLOW_CONN_{CONN_ID.upper()}"):
        from airflow.sdk import Connection
        from airflow.sdk.log import mask_secret

        raw = os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"]
        if raw.lstrip().startswith("{"):
            conn = Connection.from_json(raw, conn_id=CONN_ID)
        else:
            conn = Connection.from_uri(raw, conn_id=CONN_ID)
        if conn.password:
            mask_secret(conn.password)  # redacted from any log line, as Airflow's lookups do
        return conn
    try:
        from airflow.sdk import BaseHook
        from airflow.sdk.exceptions import AirflowRuntimeError
    except ImportError:  # running without Airflow installed
        return None
    try:
        return BaseHook.get_connection(CONN_ID)
    except (AirflowRuntimeError, Exception) as exc:  # noqa: BLE001 - "not defined" has many types
        log.debug("no Airflow connection %s (%s); using the embedded default", CONN_ID, type(exc))
        return None


def resolve_conninfo() -> str:
    """psycopg conninfo for the warehouse (FINSYNC_WAREHOUSE_DSN overrides, for tools)."""
    if dsn := os.environ.get("FINSYNC_WAREHOUSE_DSN"):
        return dsn
    conn = _airflow_connection()
    if conn is not None:
        return _conninfo_from_airflow_connection(conn)
    from finsync import embedded

    return embedded.conninfo(embedded.WAREHOUSE_DB)


def describe(conninfo: str) -> str:
    """A printable description of a conninfo: host and database, never credentials."""
    info = psycopg.conninfo.conninfo_to_dict(conninfo)
    return f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"


@contextmanager
def connect(
    conninfo: str | None = None, *, autocommit: bool = True, retry: bool = True
) -> Iterator[psycopg.Connection]:
    """A psycopg connection to the warehouse, autocommit by default: atomic steps use
    `conn.transaction()` blocks (BEGIN ... COMMIT), so nothing depends on an implicit one.
    A server that does not answer is retried with back-off (`retry=False`: one attempt, for
    callers that answer a person now)."""
    conninfo = conninfo or resolve_conninfo()
    conn = _connect_with_backoff(conninfo, autocommit, None if retry else ())
    with conn:
        yield conn


def _connect_with_backoff(
    conninfo: str, autocommit: bool, delays: tuple[float, ...] | None = None
) -> psycopg.Connection:
    delays = CONNECT_RETRY_DELAYS if delays is None else delays
    attempts = len(delays) + 1
    for attempt in range(1, attempts + 1):
        try:
            return psycopg.connect(conninfo, autocommit=autocommit, application_name="finsync")
        except psycopg.OperationalError as exc:
            # libpq's messages name host, port, user and database, never the password.
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            transient = bool(_TRANSIENT.search(str(exc)))
            if not transient or attempt == attempts:
                raise RuntimeError(
                    f"cannot connect to the warehouse at {describe(conninfo)}: {reason}"
                    + (f" (after {attempt} attempts)" if attempt > 1 else "")
                    + f". Check the Airflow connection '{CONN_ID}' (or unset it to use the "
                    "embedded default)."
                ) from None
            delay = delays[attempt - 1]
            log.warning(
                "warehouse at %s unreachable (%s); retrying in %.1f s (attempt %d of %d)",
                describe(conninfo),
                reason,
                delay,
                attempt + 1,
                attempts,
            )
            time.sleep(delay)
    raise AssertionError("unreachable")
