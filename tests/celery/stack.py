"""Stock Airflow on the CeleryExecutor against a real PostgreSQL server with TLS: the pieces a
deployment runs, started on this machine and stopped with everything they forked.

Used by the tests (tests/celery/conftest.py starts one stack per session) and by benchmark
scripts. Three context managers, each stopping what it started when it exits:

    from tests.celery import stack

    with stack.tls_postgres(tmp / "wh") as pg, stack.tls_postgres(tmp / "meta") as meta, \
            stack.redis_server(tmp / "redis") as broker:
        warehouse = pg.database("finsync", migrate=True)   # role + database, finsync migrated
        metadata = meta.database("airflow")                # (one server for both works too)
        with stack.celery_stack(tmp / "airflow", warehouse=warehouse, metadata=metadata,
                                broker_url=broker) as s:
            s.unpause("budget_sync"); s.pool("budget_sync", 5)
            run_id = s.trigger("budget_sync", {"force": True})
            assert s.wait("budget_sync", run_id) == "success"
            s.task_instances("budget_sync", run_id)   # each with its worker's `hostname`

- `tls_postgres(tmp)`: Debian's PostgreSQL (/usr/lib/postgresql/*/bin; `make test` installs
  it) in a private temp folder (its log in `tmp`), on a free loopback TCP port only, TLS
  with a CA and a server certificate for `localhost` made here, `password_encryption =
  scram-sha-256` and a pg_hba.conf of `hostssl ... scram-sha-256` lines only. Clients connect
  to host `localhost` with `sslmode=verify-full sslrootcert=<pg.ca>`. Run as the `postgres`
  system user when root. `pg.restart()` is a fast-shutdown restart on the same port.
- `redis_server(tmp)`: Debian's `redis-server` on a free loopback port; yields the broker URL.
- `celery_stack(tmp, ...)`: `airflow db migrate` on the metadata database, then an API
  server, a scheduler, a DAG processor and `workers` Celery workers (default two: `worker-a`,
  `worker-b`), each with its own `FINSYNC_WORK_DIR` (tmp/<name>/work) and reported as the
  task instances' `hostname` (`finsync.airflow_env.worker_hostname`). CeleryExecutor, Redis
  broker, results in the metadata database (`db+postgresql+psycopg://`, TLS verify-full),
  workers preloading the sync's modules (`finsync.worker_preload.CELERY_CONFIG`; stock
  Celery settings: env={"AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS":
  "airflow.providers.celery.executors.default_celery.DEFAULT_CELERY_CONFIG"}), shared
  storage on a `file://` base in tmp/shared (FINSYNC_STORAGE_URL), the finsync service
  mounted in the API server at /finsync (the plugin).
  The warehouse is the Airflow connection `finsync_warehouse`, an AIRFLOW_CONN_ variable
  holding its JSON (password, sslmode and sslrootcert extras). Logs: `s.log_files()`.

Every process goes through tests/processes.py: its own session, stopped with its whole tree.
The caller's environment is the base (a test session's FINSYNC_HOME marks them as its own).
"""

from __future__ import annotations

import glob
import json
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psutil

from tests import processes, tls

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
HOST = "localhost"  # the name in the server certificate, verified by every client
DONE = ("success", "failed")


# ---- PostgreSQL with TLS and SCRAM ------------------------------------------------------------


def postgres_bin() -> Path:
    """Debian's PostgreSQL server binaries (the newest major version installed)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[4])
    )
    if not found:
        raise RuntimeError(
            "Debian's PostgreSQL server is not installed (/usr/lib/postgresql/*/bin): "
            "`make test` installs it (apt-get install postgresql)"
        )
    return Path(found[-1]).parent


@dataclass(frozen=True)
class Database:
    """A database on the TLS server and its owner, a login role with a password."""

    name: str
    user: str
    password: str
    port: int
    ca: Path

    @property
    def conninfo(self) -> str:
        """psycopg conninfo: TLS verified against the fixture's CA, host name checked."""
        return (
            f"host={HOST} port={self.port} dbname={self.name} user={self.user} "
            f"password={self.password} sslmode=verify-full sslrootcert={self.ca}"
        )

    def url(self, driver: str = "postgresql+psycopg") -> str:
        """A SQLAlchemy URL (Airflow's metadata DB, Celery's result backend with `db+`)."""
        return (
            f"{driver}://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@{HOST}:{self.port}/{self.name}"
            f"?sslmode=verify-full&sslrootcert={quote(str(self.ca), safe='/')}"
        )

    def airflow_connection(self) -> str:
        """The Airflow connection JSON (for an AIRFLOW_CONN_* variable), TLS in its extras."""
        return json.dumps(
            {
                "conn_type": "postgres",
                "host": HOST,
                "port": self.port,
                "login": self.user,
                "password": self.password,
                "schema": self.name,
                "extra": {"sslmode": "verify-full", "sslrootcert": str(self.ca)},
            }
        )


@dataclass
class TLSPostgres:
    data: Path
    port: int
    ca: Path
    admin_password: str
    log: Path
    user: str | None  # the system user it runs as (root cannot run PostgreSQL)
    proc: subprocess.Popen | None = None

    @property
    def admin(self) -> Database:
        return Database("postgres", "postgres", self.admin_password, self.port, self.ca)

    def database(self, name: str, *, migrate: bool = False) -> Database:
        """A new login role `name` with a random password owning a new database `name`;
        `migrate`: finsync's migrations applied (finsync.migrate, as `finsync db migrate`)."""
        import psycopg
        from psycopg import sql

        db = Database(name, name, secrets.token_urlsafe(18), self.port, self.ca)
        with psycopg.connect(self.admin.conninfo, autocommit=True) as conn:
            role = sql.Identifier(name)
            conn.execute(
                sql.SQL("create role {} login password {}").format(role, sql.Literal(db.password))
            )
            conn.execute(sql.SQL("create database {} owner {}").format(role, role))
        if migrate:
            from finsync import migrate as migrations

            with psycopg.connect(db.conninfo, autocommit=True) as conn:
                migrations.migrate(conn)
        return db

    def _command(self) -> list[str]:
        return [str(postgres_bin() / "postgres"), "-D", str(self.data)]

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.proc = processes.start(
            self._command(), env=_server_env(), log=self.log, user=self.user, append=True
        )
        _wait_until(
            lambda: _pg_ready(self.admin.conninfo),
            f"PostgreSQL on port {self.port}",
            timeout=30,
            proc=self.proc,
            log=self.log,
        )

    def stop(self) -> None:
        """Fast shutdown (open sessions are ended, their transactions rolled back)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                processes.stop(self.proc)
        processes.stop(self.proc)  # whatever of its tree is left
        self.proc = None

    def restart(self, down_for: float = 0.0) -> None:
        """What `pg_ctl restart -m fast` does, on the same port: every session is cut."""
        self.stop()
        time.sleep(down_for)
        self.start()


def _server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "AIRFLOW"))}
    env["LC_ALL"] = "C.UTF-8"
    return env


def _pg_ready(conninfo: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(conninfo, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def _reachable_by(path: Path, user: str) -> None:
    """Let `user` (PostgreSQL's system user) reach `path`: search permission on each parent
    (as the embedded server's package does), and `path` itself its own."""
    import pwd

    pw = pwd.getpwnam(user)
    for parent in reversed(path.parents):
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)
    for p in (path, *path.rglob("*")):
        os.chown(p, pw.pw_uid, pw.pw_gid)


@contextmanager
def tls_postgres(tmp: Path, settings: dict[str, str] | None = None) -> Iterator[TLSPostgres]:
    """A PostgreSQL server with TLS and SCRAM on a free loopback port; stopped on exit.
    `settings`: postgresql.conf lines added to (or overriding) the defaults below. Its log is
    `tmp`/postgres.log; its files (data, TLS key) live in a private folder of the system's temp
    dir, removed on exit: not under `tmp`, because pytest resets its temp root to mode 0700
    whenever another session starts, which would cut the `postgres` user off mid-run."""
    tmp = Path(tmp).resolve()
    tmp.mkdir(parents=True, exist_ok=True)
    server = Path(tempfile.mkdtemp(prefix="finsync-pg-"))
    try:
        with _tls_postgres(server, tmp / "postgres.log", settings) as pg:
            yield pg
    finally:
        shutil.rmtree(server, ignore_errors=True)


@contextmanager
def _tls_postgres(
    server: Path, log: Path, settings: dict[str, str] | None
) -> Iterator[TLSPostgres]:
    bin_dir = postgres_bin()
    user = "postgres" if os.geteuid() == 0 else None
    data = server / "data"
    ca, cert, key = tls.certificates(server / "tls", HOST)
    admin_password = secrets.token_urlsafe(18)
    pwfile = server / "pwfile"
    pwfile.write_text(admin_password + "\n")
    if user:
        _reachable_by(server, user)
    initdb = subprocess.run(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--no-sync",
        ],
        capture_output=True,
        text=True,
        env=_server_env(),
        cwd=server,
        **processes.as_user(user),
    )
    pwfile.unlink()
    if initdb.returncode:
        raise RuntimeError(f"initdb failed: {initdb.stdout[-2000:]}{initdb.stderr[-2000:]}")
    port = processes.free_port()
    (data / "pg_hba.conf").write_text(
        "# TLS and SCRAM only: no Unix socket, no plain TCP, no trust\n"
        "hostssl all all 127.0.0.1/32 scram-sha-256\n"
        "hostssl all all ::1/128 scram-sha-256\n"
    )
    conf = {
        "listen_addresses": "'localhost'",
        "port": str(port),
        "unix_socket_directories": "''",
        "ssl": "on",
        "ssl_cert_file": f"'{cert}'",
        "ssl_key_file": f"'{key}'",
        "ssl_min_protocol_version": "'TLSv1.2'",
        "password_encryption": "'scram-sha-256'",
        "max_connections": "200",
        "shared_buffers": "'256MB'",
        "work_mem": "'64MB'",
        "max_wal_size": "'4GB'",
        # A test server thrown away at the end: no waiting on the disk.
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        **(settings or {}),
    }
    with (data / "postgresql.conf").open("a") as out:
        out.write("\n# finsync test server\n")
        out.writelines(f"{k} = {v}\n" for k, v in conf.items())
    pg = TLSPostgres(data, port, ca, admin_password, log, user)
    try:
        pg.start()
        yield pg
    finally:
        pg.stop()


# ---- Redis -----------------------------------------------------------------------------------


@contextmanager
def redis_server(tmp: Path) -> Iterator[str]:
    """Debian's redis-server on a free loopback port, nothing persisted; yields its URL."""
    import redis

    tmp = Path(tmp).resolve()
    tmp.mkdir(parents=True, exist_ok=True)
    binary = "/usr/bin/redis-server"
    if not os.access(binary, os.X_OK):
        raise RuntimeError(
            "Debian's redis-server is not installed: `make test` installs it "
            "(apt-get install redis-server)"
        )
    port = processes.free_port()
    cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    cmd += ["--dir", str(tmp), "--protected-mode", "yes"]
    with processes.running(cmd, env=_server_env(), log=tmp / "redis.log") as proc:
        url = f"redis://127.0.0.1:{port}/0"

        def ping() -> bool:
            try:
                return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
            except redis.RedisError:
                return False

        _wait_until(ping, f"redis on port {port}", timeout=20, proc=proc, log=tmp / "redis.log")
        yield url


# ---- Airflow on Celery -----------------------------------------------------------------------


@dataclass
class Worker:
    name: str
    work_dir: Path
    log: Path
    proc: subprocess.Popen | None = None
    ready_before: int = 0


@dataclass
class CeleryStack:
    """The running stack: its environment (`env`, for `airflow` commands), the REST API,
    the workers by name, and every log it writes."""

    env: dict[str, str]
    api_url: str
    home: Path
    workers: dict[str, Worker]
    service_logs: dict[str, Path] = field(default_factory=dict)

    # -- REST -------------------------------------------------------------------------------
    def rest(self, method: str, path: str, body=None):
        """Airflow's public REST API, /api/v2 + path (every user is an admin here)."""
        request = urllib.request.Request(
            self.api_url + "/api/v2" + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            exc.msg = f"{exc.msg}: {exc.read().decode(errors='replace')[:2000]}"
            raise

    def airflow(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [AIRFLOW, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )

    def unpause(self, dag_id: str) -> None:
        self.rest("PATCH", f"/dags/{dag_id}", {"is_paused": False})

    def pool(self, name: str, slots: int) -> None:
        body = {"name": name, "slots": slots, "include_deferred": False}
        try:
            self.rest("POST", "/pools", body)
        except urllib.error.HTTPError as exc:
            if exc.code != 409:
                raise
            self.rest("PATCH", f"/pools/{name}", body)

    def trigger(self, dag_id: str, conf: dict | None = None) -> str:
        run = self.rest(
            "POST", f"/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}}
        )
        return run["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.rest("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")["state"]

    def wait(self, dag_id: str, run_id: str, timeout: float = 180) -> str:
        """The run's final state (success or failed)."""
        return processes.poll(
            f"{dag_id} run {run_id} to finish",
            lambda: s if (s := self.run_state(dag_id, run_id)) in DONE else None,
            timeout=timeout,
        )

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances?limit=1000"
        return self.rest("GET", path)["task_instances"]

    # -- workers ----------------------------------------------------------------------------
    def start_worker(self, name: str, *, wait: bool = True) -> None:
        """Start (or start again) worker `name`; `wait`: until Celery says it is ready."""
        worker = self.workers[name]
        assert worker.proc is None or worker.proc.poll() is not None, f"{name} runs"
        env = dict(
            self.env,
            FINSYNC_WORK_DIR=str(worker.work_dir),
            FINSYNC_WORKER_HOSTNAME=name,
            AIRFLOW__CORE__HOSTNAME_CALLABLE="finsync.airflow_env.worker_hostname",
        )
        cmd = [AIRFLOW, "celery", "worker", "--celery-hostname", name]
        cmd += ["--concurrency", self.env["FINSYNC_STACK_CONCURRENCY"], "--skip-serve-logs"]
        cmd += ["--without-mingle", "--without-gossip"]
        worker.ready_before = self._readies(worker)  # its log is appended to
        worker.proc = processes.start(cmd, env=env, log=worker.log, append=True)
        if wait:
            self.wait_worker(name)

    def wait_worker(self, name: str) -> None:
        worker = self.workers[name]
        _wait_until(
            lambda: self._readies(worker) > worker.ready_before,
            f"celery worker {name}",
            timeout=120,
            proc=worker.proc,
            log=worker.log,
        )

    @staticmethod
    def _readies(worker: Worker) -> int:
        try:
            return worker.log.read_text(errors="replace").count(f"celery@{worker.name} ready.")
        except FileNotFoundError:
            return 0

    def kill_worker(self, name: str) -> None:
        """SIGKILL to the worker's process group and every process it forked (a machine
        lost): no task of it gets to clean up."""
        worker = self.workers[name]
        assert worker.proc is not None
        try:
            tree = [psutil.Process(worker.proc.pid)]
            tree += tree[0].children(recursive=True)
        except psutil.NoSuchProcess:
            tree = []
        try:
            os.killpg(worker.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for p in tree:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(tree, timeout=30)
        worker.proc.wait(timeout=30)
        worker.proc = None

    def stop_worker(self, name: str) -> None:
        worker = self.workers[name]
        if worker.proc is not None:
            processes.stop(worker.proc)
            worker.proc = None

    # -- logs -------------------------------------------------------------------------------
    def log_files(self) -> list[Path]:
        """Every log the stack wrote: services, workers and each task try's log."""
        task_logs = [p for p in (self.home / "logs").rglob("*") if p.is_file()]
        return [*self.service_logs.values(), *(w.log for w in self.workers.values()), *task_logs]


def _wait_until(ready, what: str, *, timeout: float, proc, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited: {log.read_text(errors='replace')[-3000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready: {log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)


def stack_env(
    home: Path, *, warehouse: Database, metadata: Database, broker_url: str, port: int
) -> dict[str, str]:
    """The environment every process of the stack shares (finsync's Airflow defaults, then
    the CeleryExecutor, the TLS databases and the broker)."""
    from finsync import airflow_env

    # (the metadata DB given first, so the defaults start no embedded server for it)
    env = airflow_env.airflow_env(
        {**os.environ, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata.url()}
    )
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata.url(),
            "AIRFLOW__CELERY__BROKER_URL": broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata.url(),
            f"AIRFLOW_CONN_{'finsync_warehouse'.upper()}": warehouse.airflow_connection(),
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
            # A worker lost with its tasks: their try is failed (then retried) this soon.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "10",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__CORE__PARALLELISM": "32",
            # Each worker imports the budget sync's modules and builds the GX context once,
            # before its pool forks (as the deployment's workers do).
            "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "finsync.worker_preload.CELERY_CONFIG",
            # Only the runs a caller triggers or backfills: no scheduled run of an unpaused
            # DAG syncs or recomputes behind its back (a benchmark may set it back to True).
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        }
    )
    env.pop("FINSYNC_WAREHOUSE_DSN", None)
    return env


@contextmanager
def celery_stack(
    tmp: Path,
    *,
    warehouse: Database,
    metadata: Database,
    broker_url: str,
    workers: int = 2,
    concurrency: int = 3,
    env: dict[str, str] | None = None,
) -> Iterator[CeleryStack]:
    """Airflow's API server, scheduler, DAG processor and `workers` Celery workers on the
    CeleryExecutor; `env` overrides any variable (e.g. AIRFLOW__CORE__PARALLELISM)."""
    tmp = Path(tmp).resolve()
    home = tmp / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    port = processes.free_port()
    full_env = stack_env(
        home, warehouse=warehouse, metadata=metadata, broker_url=broker_url, port=port
    )
    # Files that cross machines (uploads, kept downloads, reject files): one shared base.
    full_env["FINSYNC_STORAGE_URL"] = (tmp / "shared").as_uri()
    full_env["FINSYNC_STACK_CONCURRENCY"] = str(concurrency)
    full_env.update(env or {})
    names = [f"worker-{chr(ord('a') + i)}" for i in range(workers)]
    stack = CeleryStack(
        env=full_env,
        api_url=f"http://127.0.0.1:{port}",
        home=home,
        workers={n: Worker(n, tmp / n / "work", tmp / f"{n}.log") for n in names},
    )
    stack.airflow("db", "migrate", timeout=300)
    services: list[subprocess.Popen] = []
    try:
        for name, cmd in (
            ("api-server", [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(port)]),
            ("scheduler", [AIRFLOW, "scheduler"]),
            ("dag-processor", [AIRFLOW, "dag-processor"]),
        ):
            log = tmp / f"{name}.log"
            stack.service_logs[name] = log
            services.append(processes.start(cmd, env=full_env, log=log))
        for name in names:  # both start at once (each imports the sync's modules first)
            stack.start_worker(name, wait=False)
        for name in names:
            stack.wait_worker(name)

        def api_up():
            try:
                return stack.rest("GET", "/dags?limit=100")
            except OSError:
                return None

        dag_ids = {"budget_sync", "planning_financials_sync", "planning_compliance_sync"}
        processes.poll(
            "the API server and the DAG processor (every DAG parsed)",
            lambda: (d := api_up()) and dag_ids <= {x["dag_id"] for x in d["dags"]} or None,
            timeout=120,
        )
        yield stack
    finally:
        # All at once. A Celery worker's warm shutdown can hang (a worker started again after
        # a kill did, 30 s): nothing runs on it any more, so it gets 10 s before SIGKILL.
        workers_ = [w.proc for w in stack.workers.values() if w.proc is not None]
        stops = [(p, processes.STOP_TIMEOUT_SECONDS) for p in services]
        stops += [(p, 10.0) for p in workers_]
        with ThreadPoolExecutor(max_workers=len(stops) or 1) as pool:
            list(pool.map(lambda stop: processes.stop(*stop), stops))
        for worker in stack.workers.values():
            worker.proc = None
