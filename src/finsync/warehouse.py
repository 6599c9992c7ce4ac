"""Where the warehouse is: the Airflow connection `finsync_warehouse`, else the embedded default.

The connection is looked up the way Airflow does it (environment variable
`AIRFLOW_CONN_FINSYNC_WAREHOUSE`, a secrets backend, or the metastore inside a task).
Without one, finsync starts (or reuses) an embedded PostgreSQL under `FINSYNC_HOME`.
Credentials never leave the connection object: they are not logged and not put in errors.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import unquote

import psycopg

CONN_ID = "finsync_warehouse"
log = logging.getLogger(__name__)


def _conninfo_from_airflow_connection(conn) -> str:
    """psycopg conninfo from an Airflow Connection (host may be a Unix socket directory)."""
    params: dict[str, object] = {
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
        **{k: v for k, v in params.items() if v not in (None, "")}
    )


def _airflow_connection():
    """The `finsync_warehouse` Airflow connection, or None when none is defined."""
    if os.environ.get(f"AIRFLOW_CONN_{CONN_ID.upper()}"):
        from airflow.models.connection import Connection

        raw = os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"]
        if raw.lstrip().startswith("{"):
            return Connection.from_json(raw, conn_id=CONN_ID)
        return Connection(conn_id=CONN_ID, uri=raw)
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
    conninfo: str | None = None, *, autocommit: bool = True
) -> Iterator[psycopg.Connection]:
    """A psycopg connection to the warehouse, autocommit by default: atomic steps use
    `conn.transaction()` blocks (BEGIN ... COMMIT), so nothing depends on an implicit one."""
    conninfo = conninfo or resolve_conninfo()
    try:
        conn = psycopg.connect(conninfo, autocommit=autocommit, application_name="finsync")
    except psycopg.OperationalError as exc:
        raise RuntimeError(
            f"cannot connect to the warehouse at {describe(conninfo)}: {str(exc).splitlines()[0]}. "
            f"Check the Airflow connection '{CONN_ID}' (or unset it to use the embedded default)."
        ) from None
    with conn:
        yield conn
