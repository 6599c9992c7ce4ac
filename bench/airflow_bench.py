"""What the benchmarks that run finsync through stock Airflow share: an Airflow home and
metadata database of the bench's own on the embedded server, a process tree's peak memory and
CPU, and a budget sync's figures as Airflow recorded them (task instances, XCom) beside the
sync's own (sync_history).

Imported by bench/budget_sync (--airflow) and bench/budget_fleet (the bench folder is on
sys.path when a script in it runs).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
DAG_ID = "budget_sync"


def airflow_env(out: Path, *, warehouse_db: str, metadata_db: str, **extra: str) -> dict:
    """Stock Airflow on the embedded server, with a home and metadata database of the bench's
    own (the user's `make ui` Airflow is not touched) and `finsync_warehouse` on `warehouse_db`.
    """
    from finsync import embedded
    from finsync.airflow_env import airflow_env as base_env

    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW__DATABASE", "AIRFLOW_HOME", "AIRFLOW_CONN_", "AIRFLOW__CORE"))
    }
    base["AIRFLOW_HOME"] = str(out / "airflow")
    base["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = embedded.uri(
        metadata_db, driver="postgresql+psycopg2"
    )
    base["AIRFLOW_CONN_FINSYNC_WAREHOUSE"] = embedded.uri(warehouse_db)
    base["FINSYNC_WORK_DIR"] = str(out / "work")
    base.update(extra)
    return base_env(base)


def fresh_metadata_db(env: dict, name: str) -> float:
    """Drop and recreate Airflow's metadata database `name`, migrate it; seconds taken."""
    import psycopg

    from finsync import embedded

    with psycopg.connect(embedded.conninfo("postgres"), autocommit=True) as admin:
        admin.execute(f'drop database if exists "{name}" with (force)')
        admin.execute(f'create database "{name}"')
    started = time.perf_counter()
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True)
    return time.perf_counter() - started


class TreeMonitor:
    """Samples a process tree (its roots and every descendant) every `interval` seconds from
    a thread: the peak of the tree's summed resident memory, and the CPU seconds its
    processes used while watched (each process's own user + system time, counted from when
    it was first seen, or from its start if it started while watched; a process that ends
    between two samples loses at most its last interval). With `postmaster`, the CPU also
    counts that PostgreSQL server's backends serving one of `databases` (by their process
    title); their memory (mostly the server's shared buffers) is not counted, nor that of the
    trees in `cpu_only` (servers: PostgreSQL, Redis), whose CPU is."""

    def __init__(
        self,
        *roots: int,
        interval: float = 0.1,
        postmaster: int | None = None,
        databases: tuple[str, ...] = (),
        cpu_only: tuple[int, ...] = (),
    ):
        self.roots = list(roots)
        self.cpu_only = list(cpu_only)
        self.interval = interval
        self.postmaster = postmaster
        self._titles = tuple(f" {db} " for db in databases)
        self.peak_rss = 0
        self.peak_process_rss = 0
        self._base: dict[tuple[int, float], float] = {}
        self._last: dict[tuple[int, float], float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = False

    def __enter__(self) -> TreeMonitor:
        self._sample(first=True)
        self._started = True
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def cpu_seconds(self) -> float:
        return sum(self._last[k] - self._base.get(k, 0.0) for k in self._last)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self, first: bool = False) -> None:
        procs = _trees(self.roots)
        backends_of_ours = _trees(self.cpu_only)
        if self.postmaster is not None:
            try:
                backends = psutil.Process(self.postmaster).children()
            except psutil.Error:
                backends = []
            for backend in backends:
                try:
                    title = " ".join(backend.cmdline()) + " "
                except psutil.Error:
                    continue
                if any(t in title for t in self._titles):
                    backends_of_ours[backend.pid] = backend
        total = 0
        for p in [*procs.values(), *backends_of_ours.values()]:
            try:
                with p.oneshot():
                    key = (p.pid, p.create_time())
                    times = p.cpu_times()
                    rss = p.memory_info().rss
            except psutil.Error:
                continue
            cpu = times.user + times.system
            if key not in self._last and (first or not self._started):
                self._base[key] = cpu  # existed before watching: count from now
            self._last[key] = cpu
            if p.pid in procs:
                total += rss
                self.peak_process_rss = max(self.peak_process_rss, rss)
        self.peak_rss = max(self.peak_rss, total)


def _trees(roots: list[int]) -> dict[int, psutil.Process]:
    found: dict[int, psutil.Process] = {}
    for pid in roots:
        try:
            root = psutil.Process(pid)
            found[root.pid] = root
            for child in root.children(recursive=True):
                found[child.pid] = child
        except psutil.Error:
            continue
    return found


def postmaster_pid() -> int:
    """The embedded PostgreSQL server's pid (its backends are its children)."""
    from finsync import embedded

    embedded.socket_dir()  # started if needed
    return int((embedded.pgdata() / "postmaster.pid").read_text().split("\n", 1)[0])


def sync_rows(conn, run_id: str) -> list[dict]:
    """sync_history of one Airflow run (every column: duration_ms, counts, start and end)."""
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "select * from sync_history where airflow_run_id = %s order by sync_id", (run_id,)
        )
        return cur.fetchall()


def task_instances(metadata_conn, run_id: str, task_id: str = "sync_customer") -> list[dict]:
    """The run's task instances of `task_id` (one per customer when mapped), with their
    queued, start and end times and the XCom return value (the SyncOutcome as a dict)."""
    from psycopg.rows import dict_row

    with metadata_conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """
            select ti.map_index, ti.state, ti.hostname, ti.queued_dttm, ti.start_date,
                   ti.end_date, ti.try_number, x.value as xcom
            from task_instance ti
            left join xcom x on x.dag_id = ti.dag_id and x.run_id = ti.run_id
                and x.task_id = ti.task_id and x.map_index = ti.map_index
                and x.key = 'return_value'
            where ti.dag_id = %s and ti.run_id = %s and ti.task_id = %s
            order by ti.map_index
            """,
            (DAG_ID, run_id, task_id),
        )
        return cur.fetchall()


# The sync's steps in the order they run (finsync.budget.sync.SyncOutcome.timings).
STEPS = (
    "fetch imports parse detect map grain long normalize gate_setup gate copy diff write "
    "stage_wait commit record"
).split()


def outcome_timings(row: dict, ti: dict | None) -> dict[str, float]:
    """A sync's step timings, in the order the steps run: sync_history.timings when the table
    has the column, else the sync_customer task's return value (the SyncOutcome) in XCom."""
    found = row.get("timings")
    if not found:
        value = (ti or {}).get("xcom")
        found = value.get("timings") if isinstance(value, dict) else None
    if not isinstance(found, dict):
        return {}
    order = {step: i for i, step in enumerate(STEPS)}
    return {k: float(found[k]) for k in sorted(found, key=lambda k: order.get(k, len(order)))}


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"
