"""tests/processes.py: a service is stopped with everything it started, and the session's
check finds processes it started, orphans included."""

import os
import sys
import textwrap
import time
import uuid

import psutil

from tests import processes

# A service like the scheduler: a worker that ignores SIGTERM, and a helper that leaves the
# process group (setsid) and so outlives its parent unless it is found.
SERVICE = textwrap.dedent("""
    import os, signal, subprocess, sys, time
    ignore = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
    worker = subprocess.Popen([sys.executable, "-c", ignore])
    helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                              start_new_session=True)
    print(worker.pid, helper.pid, flush=True)
    time.sleep(600)
""")


def _pids(path) -> list[int]:
    deadline = time.monotonic() + 30
    while not (text := path.read_text().strip()):
        assert time.monotonic() < deadline, "the service did not start"
        time.sleep(0.05)
    return [int(x) for x in text.split()]


def test_stop_ends_the_service_and_everything_it_started(tmp_path):
    marker = ("FINSYNC_TEST_PROCESS", uuid.uuid4().hex)
    env = {**os.environ, marker[0]: marker[1]}
    log = tmp_path / "service.log"
    proc = processes.start([sys.executable, "-c", SERVICE], env=env, log=log)
    worker, helper = _pids(log)
    assert {proc.pid, worker, helper} <= {p.pid for p in processes.leftovers(marker)}

    processes.stop(proc, timeout=2)  # the worker ignores SIGTERM: it gets SIGKILL after 2 s
    # (other children of this session, a session-wide server say, are not this test's)
    assert not {proc.pid, worker, helper} & {p.pid for p in processes.leftovers(marker)}
    assert not any(psutil.pid_exists(p) and _alive(p) for p in (proc.pid, worker, helper))


def test_leftovers_finds_an_orphan_by_its_environment(tmp_path):
    marker = ("FINSYNC_TEST_PROCESS", uuid.uuid4().hex)
    env = {**os.environ, marker[0]: marker[1]}
    log = tmp_path / "service.log"
    proc = processes.start([sys.executable, "-c", SERVICE], env=env, log=log)
    _, helper = _pids(log)
    proc.kill()  # the leader dies alone: its helper is nobody's child of ours any more
    proc.wait()
    try:
        found = {p.pid for p in processes.leftovers(marker)}
        assert helper in found and proc.pid not in found
    finally:
        left = _marked(marker)  # only this test's: never the session's own servers
        for p in left:
            p.kill()
        psutil.wait_procs(left, timeout=10)
    assert _marked(marker) == []


def _marked(marker: tuple[str, str]) -> list[psutil.Process]:
    """The leftovers whose environment carries `marker` (started by this test)."""
    marked = []
    for p in processes.leftovers(marker):
        try:
            if p.environ().get(marker[0]) == marker[1]:
                marked.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return marked


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_sweep_removes_only_homes_whose_session_died(tmp_path):
    dead = psutil.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    homes = {name: tmp_path / f"finsync-test-{name}" for name in ("me", "dead", "alive", "new")}
    for home in homes.values():
        (home / "airflow").mkdir(parents=True)
    processes.claim(homes["me"])
    (homes["dead"] / processes.OWNER_FILE).write_text(str(dead.pid))
    (homes["alive"] / processes.OWNER_FILE).write_text(str(os.getppid()))
    # "new" names no owner yet (a session between making its home and claiming it)

    assert processes.sweep_stale_homes(homes["me"]) == [homes["dead"]]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "finsync-test-alive",
        "finsync-test-me",
        "finsync-test-new",
    ]
