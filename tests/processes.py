"""Processes the tests start, and proof that none outlives the session.

Every long-running process (Airflow's API server and scheduler, uvicorn) starts in its own
session, so its process group holds whatever it forks; `stop` (finsync.processes) ends the
group and every descendant.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import psutil

from finsync.processes import STOP_TIMEOUT_SECONDS, stop  # (`finsync ui` stops with it too)


def start(
    cmd: Sequence[str],
    *,
    env: dict[str, str],
    log: Path,
    user: str | None = None,
    append: bool = False,
) -> subprocess.Popen:
    """A service in a session of its own, its output (stdout and stderr) in `log` (`append`:
    after what the file holds, e.g. a service started again); `user` runs it as that system
    user and its group (root only: PostgreSQL refuses to run as root)."""
    with log.open("a" if append else "w") as out:
        return subprocess.Popen(
            list(cmd),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **as_user(user),
        )


def as_user(user: str | None) -> dict:
    """subprocess keywords that run a command as `user` with that user's group only."""
    if user is None:
        return {}
    import pwd

    return {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []}


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running(cmd: Sequence[str], *, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """`start` ... `stop`, whatever happens in between."""
    proc = start(cmd, env=env, log=log)
    try:
        yield proc
    finally:
        stop(proc)


@contextmanager
def serving(
    cmd: Sequence[str], *, env: dict[str, str], log: Path, ready: str, timeout: float = 60
) -> Iterator[subprocess.Popen]:
    """`running`, once the URL `ready` answers 200 (the process must not exit meanwhile)."""
    import httpx

    with running(cmd, env=env, log=log) as proc:
        deadline = time.monotonic() + timeout
        while True:
            assert proc.poll() is None, f"{cmd[0]} exited: {log.read_text()[-2000:]}"
            try:
                if httpx.get(ready, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"{ready} not ready: {log.read_text()[-2000:]}"
            time.sleep(0.1)
        yield proc


def leftovers(marker: tuple[str, str]) -> list[psutil.Process]:
    """Running processes this session started: its children (at any depth) and any process
    whose environment carries `marker` (NAME, value), orphans included."""
    me = psutil.Process()
    found = {p.pid: p for p in me.children(recursive=True)}
    name, value = marker
    for p in psutil.process_iter():
        if p.pid == me.pid or p.pid in found:
            continue
        try:
            if p.environ().get(name) == value:
                found[p.pid] = p
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    running_ = []
    for p in found.values():
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                running_.append(p)
        except psutil.NoSuchProcess:
            continue
    return running_


def describe(procs: list[psutil.Process]) -> str:
    lines = []
    for p in procs:
        try:
            lines.append(f"pid {p.pid}: {' '.join(p.cmdline())[:200]}")
        except psutil.Error:
            lines.append(f"pid {p.pid}: (gone)")
    return "\n".join(lines)


OWNER_FILE = "owner.pid"


def claim(home: Path) -> None:
    """Mark a session's home as this process's (see sweep_stale_homes)."""
    (home / OWNER_FILE).write_text(str(os.getpid()))


def sweep_stale_homes(current: Path) -> list[Path]:
    """Homes beside `current` left by sessions that died without tearing down (SIGKILL): the
    embedded server in each stopped (fast shutdown), the directory removed. A home whose owner
    still runs, or that names no owner, is left alone. Returns the homes removed."""
    removed = []
    for home in current.parent.glob(current.name.rsplit("-", 1)[0] + "-*"):
        if home == current:
            continue
        try:
            owner = int((home / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if psutil.pid_exists(owner):
            continue
        _stop_postmaster(home / "pgdata")
        shutil.rmtree(home, ignore_errors=True)
        removed.append(home)
    return removed


def _stop_postmaster(pgdata: Path, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        postmaster = psutil.Process(pid)
        if "postgres" not in postmaster.name():
            return
        postmaster.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown
        postmaster.wait(timeout)
    except (OSError, ValueError, psutil.Error):
        pass


def poll(what: str, probe, timeout: float = 60, every: float = 0.5):
    """probe()'s first value that is not None, polled until `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if (value := probe()) is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)
