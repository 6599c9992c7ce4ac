"""`finsync ui` stops every process the Airflow commands it started left running."""

import subprocess
import sys
import textwrap

import psutil

from finsync import cli

# Like the scheduler: a worker of its own that ignores SIGTERM.
SERVICE = textwrap.dedent("""
    import signal, subprocess, sys, time
    ignore = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
    worker = subprocess.Popen([sys.executable, "-c", ignore])
    print(worker.pid, flush=True)
    time.sleep(600)
""")


def test_stopping_the_ui_ends_each_command_with_its_workers():
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVICE], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert proc.stdout is not None
    worker = psutil.Process(int(proc.stdout.readline()))
    cli._stop([proc], grace=1)
    assert proc.returncode is not None
    psutil.wait_procs([worker], timeout=5)
    assert not worker.is_running() or worker.status() == psutil.STATUS_ZOMBIE
