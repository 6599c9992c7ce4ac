"""A real Prometheus (Debian's `prometheus`, `make prometheus` installs it) on loopback for the
metrics tests: scrapes the targets a test writes into its file_sd file every second, evaluates
the repository's alert rules every second (their `for:` shortened, the expressions unchanged),
and is stopped with its whole process group when the context ends."""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from tests import processes

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "finsync.rules.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "finsync.rules.test.yml"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


@dataclass
class Prometheus:
    url: str
    targets: Path

    def scrape(self, *hosts: str, job: str = "finsync") -> None:
        """Scrape these host:port targets (replacing the previous ones)."""
        tmp = self.targets.with_suffix(".tmp")
        tmp.write_text(json.dumps([{"targets": list(hosts), "labels": {"job": job}}]))
        tmp.replace(self.targets)  # atomically: Prometheus never reads half a file

    def query(self, expr: str) -> list[dict]:
        r = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        r.raise_for_status()
        return r.json()["data"]["result"]

    def alerts(self) -> list[dict]:
        r = httpx.get(f"{self.url}/api/v1/alerts", timeout=10)
        r.raise_for_status()
        return r.json()["data"]["alerts"]

    def wait(self, what: str, found, timeout: float = 45.0):
        """Poll `found()` until it returns something truthy; fails naming `what`."""
        deadline = time.monotonic() + timeout
        while True:
            value = found()
            if value:
                return value
            assert time.monotonic() < deadline, f"Prometheus: no {what} after {timeout:.0f} s"
            time.sleep(0.5)


def fast_rules(source: Path, target: Path) -> Path:
    """The rule file with every alert's `for:` set to 0s (fires at its first true evaluation)."""
    doc = yaml.safe_load(source.read_text())
    for group in doc["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            if "alert" in rule:
                rule["for"] = "0s"
    target.write_text(yaml.safe_dump(doc, sort_keys=False))
    return target


@contextmanager
def prometheus_server(workdir: Path) -> Iterator[Prometheus]:
    workdir.mkdir(parents=True, exist_ok=True)
    targets = workdir / "targets.json"
    targets.write_text("[]")
    rules = fast_rules(RULES, workdir / "finsync.rules.yml")
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {
                "job_name": "finsync",
                "file_sd_configs": [{"files": [str(targets)], "refresh_interval": "1s"}],
            }
        ],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [
        PROMETHEUS,
        f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    log = workdir / "prometheus.log"
    url = f"http://127.0.0.1:{port}"
    with processes.serving(
        cmd,
        env={"PATH": "/usr/bin:/bin", "FINSYNC_HOME": os.environ.get("FINSYNC_HOME", "")},
        log=log,
        ready=f"{url}/-/ready",
    ):
        yield Prometheus(url=url, targets=targets)
