"""A budget sync's modules imported once per Airflow worker, before it forks task processes.

Airflow 3 runs every task in a process its supervisor forks (`supervise_task` ->
`ActivitySubprocess.start` -> `os.fork`); the supervisor runs inside a LocalExecutor worker
process (forked from the scheduler) or a Celery pool process (forked from the Celery worker).
A forked process starts with every module its parent had imported. So when the parent has
imported pandas, pyarrow, finsync's budget modules and Great Expectations, and built the GX
context (`finsync.gate.prepare`), a customer's sync task pays none of it: measured, 2.6 s of
a 3.2 s small sync (docs/budget_sync_speed.md).

- LocalExecutor: `AIRFLOW__CORE__EXECUTOR=finsync.worker_preload.PreloadingLocalExecutor`
  (finsync's default, `finsync.airflow_env`). With the `fork` start method (Linux) the
  scheduler imports them once before it forks its workers (the executor freezes the GC
  then, so the pages stay shared); with `spawn` each worker imports them when it starts.
- CeleryExecutor: `AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=finsync.worker_preload.CELERY_CONFIG`:
  Airflow's own Celery settings, and each `airflow celery worker` imports them on Celery's
  `worker_init` signal, before its pool forks.

Nothing here connects anywhere or starts a thread, so forking afterwards is safe.
"""

from __future__ import annotations

import importlib
import logging
import time
from typing import Any

from airflow.executors.local_executor import LocalExecutor, _run_worker

log = logging.getLogger(__name__)

# What a sync_customer task imports (its steps import the rest at their top).
MODULES = (
    "pandas",
    "pyarrow",
    "pyarrow.compute",
    "pyarrow.csv",
    "psycopg",
    "finsync.budget.airflow_steps",
    "finsync.budget.sync",
    "finsync.budget.sources",
    "finsync.budget.read",
    "finsync.budget.detect",
    "finsync.budget.mapping",
    "finsync.budget.budgets",
    "finsync.budget.quality",
    "finsync.budget.importer",
    "finsync.budget.notify",
)

_done = False


def preload() -> float:
    """Import MODULES and build the GX context in this process (once); the seconds it took."""
    global _done
    if _done:
        return 0.0
    started = time.perf_counter()
    # A scheduler or Celery worker must start whatever a module does on import: a task that
    # needs the module imports it again and reports its error where it belongs.
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001
            log.warning("finsync preload: %s not imported (%s: %s)", name, type(exc).__name__, exc)
    try:
        # Shared storage is used by every sync: its base path (universal_pathlib's modules),
        # and every provider's filesystem (s3fs, ...), which Airflow registers at the first use
        # of an object store in a process (0.2-0.5 s)
        from airflow.sdk.io import has_fs

        from finsync import storage

        storage.base()
        has_fs("s3")  # (the question registers them all)
    except Exception as exc:  # noqa: BLE001
        log.warning("finsync preload: filesystems not registered (%s: %s)", type(exc).__name__, exc)
    try:
        from finsync import gate

        gate.prepare()
    except Exception as exc:  # noqa: BLE001
        log.warning("finsync preload: no GX context (%s: %s)", type(exc).__name__, exc)
    _done = True
    took = time.perf_counter() - started
    log.info("finsync preload: budget sync modules and the GX context ready in %.2f s", took)
    return took


def _preloading_worker(**kwargs: Any) -> None:
    """A LocalExecutor worker that has the modules before it runs (forks) its first task."""
    preload()
    _run_worker(**kwargs)


class PreloadingLocalExecutor(LocalExecutor):
    """Airflow's LocalExecutor whose workers have finsync's budget modules and the GX context
    imported before they fork task processes (module docstring)."""

    def start(self) -> None:
        if self.is_mp_using_fork:
            preload()  # once, in the scheduler: every worker forked from it shares it
        super().start()

    def _spawn_worker(self) -> None:
        import multiprocessing

        process = multiprocessing.Process(
            target=_preloading_worker,
            kwargs={
                "logger_name": self.log.name,
                "input": self.activity_queue,
                "output": self.result_queue,
                "unread_messages": self._unread_messages,
                "team_conf": self.conf,
            },
        )
        process.start()
        assert process.pid is not None
        self.workers[process.pid] = process


def _celery_config() -> dict[str, Any]:
    from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
    from celery.signals import worker_init

    worker_init.connect(_on_worker_init, weak=False)
    return dict(DEFAULT_CELERY_CONFIG)


def _on_worker_init(**_: Any) -> None:
    preload()


def __getattr__(name: str) -> Any:
    # CELERY_CONFIG is built when Airflow's Celery app asks for it (the scheduler and each
    # worker), so importing this module needs no Celery provider.
    if name == "CELERY_CONFIG":
        config = _celery_config()
        globals()["CELERY_CONFIG"] = config
        return config
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
