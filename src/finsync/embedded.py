"""The embedded default: a PostgreSQL server run by the `pgserver` package under FINSYNC_HOME.

Nothing to install: the server binaries ship in the wheel. It listens on a Unix socket only
(no TCP port to collide with) and keeps running after the command that started it, so the
CLI, Airflow's scheduler and its task processes all share it; `finsync db stop` stops it.
It holds two databases: `finsync` (the warehouse) and `airflow` (Airflow's metadata).
"""

from __future__ import annotations

import atexit
import os
from functools import cache
from pathlib import Path
from urllib.parse import quote

WAREHOUSE_DB = "finsync"
AIRFLOW_DB = "airflow"

# Reloadable settings that suit set-based finance SQL on a small machine.
_SETTINGS = {
    "work_mem": "128MB",
    "maintenance_work_mem": "512MB",
    "max_wal_size": "4GB",
    "random_page_cost": "1.1",
}


def home() -> Path:
    """The embedded server's data and Airflow's home: FINSYNC_HOME if set, else the checkout's
    `.finsync` when finsync runs from a checkout (installed editable, as `make setup` does; the
    Makefile's default too), else ~/.finsync. So every `finsync` command, `finsync env`, Airflow
    started from either and every `make` target agree, in whatever shell they run."""
    if os.environ.get("FINSYNC_HOME"):
        return Path(os.environ["FINSYNC_HOME"]).resolve()
    from finsync import PROJECT_ROOT

    if _is_checkout(PROJECT_ROOT):
        return PROJECT_ROOT / ".finsync"
    return (Path.home() / ".finsync").resolve()


def _is_checkout(root: Path) -> bool:
    """The package lives in a finsync source tree (src/finsync beside pyproject.toml)."""
    try:
        project = (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return False
    return 'name = "finsync"' in project and (root / "src" / "finsync").is_dir()


def pgdata() -> Path:
    return home() / "pgdata"


@cache
def _server():
    import logging

    logging.getLogger("pgserver").setLevel(logging.WARNING)
    path = pgdata()
    path.parent.mkdir(parents=True, exist_ok=True)
    runtime = home() / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))  # else platformdirs warns
    import pgserver

    # cleanup_mode=None: the server outlives this process and is shared with Airflow's.
    server = pgserver.get_server(path, cleanup_mode=None)
    _prepare(server)
    return server


def _prepare(server) -> None:
    import psycopg

    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        existing = {r[0] for r in conn.execute("select datname from pg_database")}
        for db in (WAREHOUSE_DB, AIRFLOW_DB):
            if db not in existing:
                conn.execute(f'create database "{db}"')
        changed = False
        for name, value in _SETTINGS.items():
            row = conn.execute(
                "select setting from pg_file_settings where name = %s and applied", (name,)
            ).fetchone()
            if row is None or row[0] != value:
                conn.execute(f"alter system set {name} = '{value}'")
                changed = True
        if changed:
            conn.execute("select pg_reload_conf()")


def socket_dir() -> str:
    from psycopg.conninfo import conninfo_to_dict

    return str(conninfo_to_dict(_server().get_uri())["host"])


def conninfo(database: str = WAREHOUSE_DB) -> str:
    """psycopg conninfo of a database on the embedded server (started if needed)."""
    return f"host={socket_dir()} user=postgres dbname={database}"


def uri(database: str, driver: str = "postgresql") -> str:
    """A URL for SQLAlchemy or an Airflow connection (socket directory in the host part)."""
    if driver == "postgresql":
        return f"postgresql://postgres@{quote(socket_dir(), safe='')}/{database}"
    return f"{driver}://postgres@/{database}?host={quote(socket_dir(), safe='')}"


def stop() -> bool:
    """Stop the embedded server if it runs; True when one was stopped."""
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata())
    if info is None or not info.is_running():
        return False
    import pgserver
    from pgserver._commands import create_command_function

    server = pgserver.get_server(pgdata(), cleanup_mode=None)
    pg_ctl = create_command_function("pg_ctl")  # (what pgserver._commands.pg_ctl is made of)
    pg_ctl(["-w", "stop", "-m", "fast"], pgdata=pgdata(), user=server.system_user)
    # Forget this process's handle: its exit hook would take pgserver's lock file again, under
    # FINSYNC_HOME (XDG_RUNTIME_DIR, set above), after the home was removed (the test session).
    atexit.unregister(server._cleanup)
    pgserver.PostgresServer._instances.pop(server.pgdata, None)
    _server.cache_clear()
    return True
