"""Environment for stock Airflow on the embedded default: one place, used by the CLI,
the tests and the benchmarks. An AIRFLOW_* variable already set by the user wins."""

from __future__ import annotations

import os

from finsync import PROJECT_ROOT, embedded


def airflow_env(base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    home = embedded.home()
    defaults = {
        # Pinned, so Airflow's processes and a shell that ran `eval "$(finsync env)"` use the
        # same embedded default as the command that printed it.
        "FINSYNC_HOME": str(home),
        "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # Airflow's LocalExecutor whose workers import the budget sync's modules and build the
        # GX context once, before they fork task processes (finsync.worker_preload).
        "AIRFLOW__CORE__EXECUTOR": "finsync.worker_preload.PreloadingLocalExecutor",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR": "True",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "GX_ANALYTICS_ENABLED": "False",
    }
    for key, value in defaults.items():
        env.setdefault(key, value)
    if "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in env:
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = embedded.uri(
            embedded.AIRFLOW_DB, driver="postgresql+psycopg2"
        )
    return env


def apply(env: dict[str, str] | None = None) -> None:
    """Put the Airflow environment into this process (before importing airflow)."""
    os.environ.update(airflow_env() if env is None else env)


def worker_hostname() -> str:
    """Airflow's `[core] hostname_callable` for workers that share a machine: the name in
    FINSYNC_WORKER_HOSTNAME (each worker's own, e.g. its Celery hostname), else the machine's
    fully qualified name as Airflow reports it by default. A task instance's `hostname` then
    says which worker ran it."""
    if name := os.environ.get("FINSYNC_WORKER_HOSTNAME"):
        return name
    import socket

    return socket.getfqdn()
