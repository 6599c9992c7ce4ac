"""Stopping a service with everything it started (`finsync ui`'s Airflow commands; the tests'
servers, tests/processes.py).

A service started in a session of its own (`start_new_session=True`) has a process group that
holds whatever it forks (the scheduler's LocalExecutor workers and `serve-logs`, the API
server's workers, task supervisors). Stopping one signals the whole group and every
descendant seen before the signal (orphans of a dead leader keep neither a parent nor, if they
call setsid, the group), waits, then kills what is left and waits again.
"""

from __future__ import annotations

import os
import signal
import subprocess

import psutil

STOP_TIMEOUT_SECONDS = 30.0


def stop(proc: subprocess.Popen, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """SIGTERM to the process group and every descendant, up to `timeout` for all of them to
    exit, then SIGKILL for the rest; returns once none of them runs."""
    try:
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        tree = []
    _signal_group(proc.pid, signal.SIGTERM)
    for p in tree:
        _signal(p, signal.SIGTERM)
    _, alive = psutil.wait_procs(tree, timeout=timeout)
    _signal_group(proc.pid, signal.SIGKILL)
    for p in alive:
        _signal(p, signal.SIGKILL)
    psutil.wait_procs(alive, timeout=timeout)
    proc.wait(timeout=timeout)  # reaps the leader (wait_procs may have already)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _signal(p: psutil.Process, sig: int) -> None:
    try:
        p.send_signal(sig)
    except psutil.NoSuchProcess:
        pass
