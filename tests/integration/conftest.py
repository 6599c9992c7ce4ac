"""Fixtures for the real protocol servers (servers.py). Each sets its Airflow connection the
way a deployment would: an AIRFLOW_CONN_* environment variable holding the connection JSON."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest

from tests import processes
from tests.integration.servers import S3Bucket, SFTPServerInfo, reset_s3, s3_server, sftp_server

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
SFTP_CONN_ID = "customer_sftp"
S3_CONN_ID = "customer_s3"


@pytest.fixture
def sftp(tmp_path, monkeypatch) -> Iterator[SFTPServerInfo]:
    """An SFTP server serving tmp_path/sftp-root as `/`; connection `customer_sftp`."""
    with sftp_server(tmp_path / "sftp-root") as server:
        monkeypatch.setenv(f"AIRFLOW_CONN_{SFTP_CONN_ID.upper()}", server.connection())
        yield server


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3(s3_endpoint, monkeypatch) -> S3Bucket:
    """An empty bucket on a freshly reset S3 endpoint; connection `customer_s3`."""
    reset_s3(s3_endpoint)
    bucket = S3Bucket(
        endpoint=s3_endpoint,
        bucket=f"budgets-{uuid.uuid4().hex[:8]}",
        access_key_id="finsync-test-key",
        secret_access_key=secrets.token_urlsafe(24),
    )
    bucket.client().create_bucket(Bucket=bucket.bucket)
    monkeypatch.setenv(f"AIRFLOW_CONN_{S3_CONN_ID.upper()}", bucket.connection())
    return bucket


@pytest.fixture
def slack(monkeypatch):
    """A Slack incoming-webhook stand-in on loopback, as connection `slack_fpa`: the messages
    the notifier posted."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's hook name
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv(
        "AIRFLOW_CONN_SLACK_FPA",
        json.dumps(
            {
                "conn_type": "slackwebhook",
                "host": f"http://127.0.0.1:{server.server_port}",
                "password": "services/T000TEST/B000TEST/not-a-real-token",
            }
        ),
    )
    yield received
    server.shutdown()
    server.server_close()


_free_port = processes.free_port  # (one copy, shared with tests/celery)


def run_airflow(env, *args, timeout=120):
    return subprocess.run(
        [AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=timeout, check=True
    )


@pytest.fixture
def airflow_services(warehouse, airflow_db, tmp_path):
    """The API server (task execution API, REST API) and the scheduler, as a deployment runs
    them; yields their environment with `api_url` and `scheduler_log` (the scheduler's output,
    its task runs included). Tests unpause the DAGs they run."""
    port = _free_port()
    env = os.environ.copy()
    env.update(
        {
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            # A task's supervisor waits up to this long after the task exits before it reports
            # (default 5 s): per task, so whole runs in tests were mostly that wait.
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
            "api_url": f"http://127.0.0.1:{port}",
            "scheduler_log": str(tmp_path / "scheduler.log"),
        }
    )
    run_airflow(env, "dags", "reserialize")
    with processes.running(
        [AIRFLOW, "api-server", "--port", str(port)], env=env, log=tmp_path / "api.log"
    ):
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                _rest(env, "GET", "/dags?limit=1")
                break
            except OSError:
                time.sleep(0.5)
        # The session's metadata DB outlives a test: a run left queued or running by an
        # earlier test would sync this test's customers. End them before the scheduler
        # starts, and again once it has stopped: ending a run the scheduler is finishing at
        # the same moment can deadlock on its dag_run row (PostgreSQL aborts one, a 500 here).
        _end_unfinished_runs(env)
        with processes.running([AIRFLOW, "scheduler"], env=env, log=Path(env["scheduler_log"])):
            yield env
        _end_unfinished_runs(env)


def _rest(env, method: str, path: str, body=None):
    """Airflow's public REST API (every user is an admin on the test setup)."""
    request = urllib.request.Request(
        env["api_url"] + "/api/v2" + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def _end_unfinished_runs(env) -> None:
    runs = _rest(env, "GET", "/dags/~/dagRuns?state=queued&state=running&limit=1000")
    for run in runs["dag_runs"]:
        dag_id, run_id = quote(run["dag_id"], safe=""), quote(run["dag_run_id"], safe="")
        _rest(env, "PATCH", f"/dags/{dag_id}/dagRuns/{run_id}", {"state": "failed"})
