"""worker_preload: a process that forks task processes has the budget sync's modules and the
GX context before it forks (LocalExecutor workers, Celery workers), so no task pays them."""

from __future__ import annotations

import os
import subprocess
import sys

from airflow.executors.executor_loader import ExecutorLoader
from airflow.executors.executor_utils import ExecutorName
from airflow.executors.local_executor import LocalExecutor


def test_airflow_loads_the_preloading_executor_by_its_path():
    name = ExecutorName(module_path="finsync.worker_preload.PreloadingLocalExecutor")
    cls, _ = ExecutorLoader.import_executor_cls(name)
    assert issubclass(cls, LocalExecutor) and cls.__name__ == "PreloadingLocalExecutor"


def test_a_forked_task_process_inherits_the_modules_and_the_gx_context(tmp_path):
    """In a fresh interpreter: nothing is imported until Celery's worker_init (or the
    executor's start) preloads; a process forked afterwards imports and builds nothing, shared
    storage's filesystems included; the preload started no thread."""
    code = """
import os, sys
from finsync import worker_preload
assert "great_expectations" not in sys.modules and "finsync.budget.quality" not in sys.modules
config = worker_preload.CELERY_CONFIG  # what [celery] celery_config_options names
from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
assert config == DEFAULT_CELERY_CONFIG and config is not DEFAULT_CELERY_CONFIG
assert "great_expectations" not in sys.modules  # the scheduler reads the config only
from celery.signals import worker_init
worker_init.send(sender=None)  # what `airflow celery worker` sends before its pool forks
from finsync import gate
assert gate._new_context.cache_info().currsize == 1
assert worker_preload.preload() == 0.0  # once per process
import threading
assert threading.active_count() == 1, threading.enumerate()
pid = os.fork()
if pid == 0:
    before = set(sys.modules)
    hits = gate._new_context.cache_info().hits
    from finsync.budget import airflow_steps, budgets, detect, mapping, quality, read, sync
    gate.prepare()
    from finsync import storage
    assert storage.listing("downloads", "nobody") == []
    from airflow.sdk.io import has_fs
    assert has_fs("s3")  # shared storage on S3: its filesystem registered before the fork too
    new = set(sys.modules) - before
    ok = not new and gate._new_context.cache_info().hits == hits + 1
    os._exit(0 if ok else 1)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0
print("ok")
"""
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "FINSYNC_STORAGE_URL": tmp_path.as_uri()},
    )
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]


def test_a_module_that_fails_to_import_never_stops_the_scheduler_or_worker(monkeypatch, caplog):
    from finsync import gate, worker_preload

    def broken() -> None:
        raise RuntimeError("no GX here")

    monkeypatch.setattr(worker_preload, "_done", False)
    monkeypatch.setattr(worker_preload, "MODULES", ("finsync.no_such_module", "json"))
    monkeypatch.setattr(gate, "prepare", broken)
    with caplog.at_level("WARNING", logger="finsync.worker_preload"):
        assert worker_preload.preload() >= 0.0
    warnings = [r.getMessage() for r in caplog.records]
    assert any("finsync.no_such_module not imported (ModuleNotFoundError" in w for w in warnings)
    assert any("no GX context (RuntimeError: no GX here)" in w for w in warnings)
