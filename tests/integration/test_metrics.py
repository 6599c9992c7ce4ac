"""The budget service's metrics (GET /metrics), the Budget sync page's numbers (GET /sync/stats)
and the alert rules: figures read from a real warehouse, promtool on the rule file and its unit
tests, a scrape that never hangs on a dead warehouse, and a real Prometheus scraping
`finsync api serve --workers 2` while a customer's syncs fail until the alert fires."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from finsync.api.main import app
from finsync.budget import config as configs
from finsync.budget.sync import sync_customer
from tests import processes
from tests.integration.api_helpers import bearer, seed_customer, tokens
from tests.integration.prometheus import (
    PROMETHEUS,
    PROMTOOL,
    RULE_TESTS,
    RULES,
    prometheus_server,
)

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
ODD = 'we"ird\\cust\nomer ü'  # an id a direct insert or another tool could have written
needs_prometheus = pytest.mark.skipif(
    not (os.access(PROMETHEUS, os.X_OK) and os.access(PROMTOOL, os.X_OK)),
    reason="Debian's prometheus is not installed (make prometheus)",
)


def sample(text: str, name: str, **labels) -> float | None:
    """The value of the sample `name` with these labels in an exposition text."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None


def history(conn, customer, status, *, ago_min, duration_ms=2000, rows=100, errors=0, **kw):
    conn.execute(
        "insert into sync_history (customer_id, config_id, status, start_time, end_time, "
        "duration_ms, total_rows, error_count, message, file_name, review) values "
        "(%s, (select min(config_id) from budget_data_source_config where customer_id = %s), "
        "%s, now() - make_interval(mins => %s), "
        "now() - make_interval(mins => %s) + make_interval(secs => %s / 1000.0), %s, %s, %s, "
        "%s, %s, %s)",
        (
            customer,
            customer,
            status,
            ago_min,
            ago_min,
            duration_ms,
            duration_ms,
            rows,
            errors,
            kw.get("message"),
            kw.get("file_name"),
            kw.get("review"),
        ),
    )


def warm(get) -> None:
    """A process's first scrapes may answer finsync_warehouse_up 0 while it resolves the
    warehouse connection (importing Airflow) in a thread; wait for that once."""
    deadline = time.monotonic() + 60
    while sample(get("/metrics").text, "finsync_warehouse_up") != 1:
        assert time.monotonic() < deadline, "the warehouse figures never came"
        time.sleep(0.2)


@pytest.fixture
def client(warehouse, monkeypatch):
    monkeypatch.setenv("FINSYNC_METRICS_CACHE_SECONDS", "0")
    with TestClient(app) as c:
        warm(c.get)
        yield c


@pytest.fixture
def seeded(conn):
    """acme (hourly: successes, a failure, a wrong file, rejected rows, a slow sync), beta
    (daily, last good sync 3 days ago: stale, a review pending), ODD (manual, synced)."""
    seed_customer(conn, "acme", frequency="hourly", synced=False)
    seed_customer(conn, "beta", frequency="daily", synced=False)
    seed_customer(conn, ODD, frequency="manual", synced=False)
    for k in range(1, 9):
        history(conn, "acme", "success", ago_min=60 * k, rows=100, errors=2, file_name="b.csv")
    history(conn, "acme", "failed", ago_min=30, rows=100, errors=100, message="s3cr3t-message")
    history(
        conn,
        "acme",
        "failed",
        ago_min=20,
        rows=None,
        errors=0,
        message="pay.csv looks like a payroll file, not a budget (confidence 0.91: Z9SECRETCELL); nothing",
    )
    history(conn, "acme", "unchanged", ago_min=10, duration_ms=400_000, rows=None)
    history(conn, "acme", "success", ago_min=60 * 24 * 3, rows=50)  # outside 24 h, inside 7 d
    history(conn, "beta", "success", ago_min=60 * 72, rows=10)
    history(conn, "beta", "needs_review", ago_min=60, rows=None, review='{"kind": "mapping"}')
    history(conn, ODD, "success", ago_min=10, rows=5)
    conn.execute(
        "insert into sync_history (customer_id, config_id, status, start_time) select 'acme', "
        "min(config_id), 'running', now() - interval '7 minutes' "
        "from budget_data_source_config where customer_id = 'acme'"
    )
    return tokens(conn, "acme")


# ---- the figures -----------------------------------------------------------------------------


def test_metrics_read_the_syncs_figures_from_the_warehouse(client, seeded, warehouse):
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert sample(text, "finsync_warehouse_up") == 1
    assert sample(text, "finsync_customers") == 3
    assert sample(text, "finsync_metrics_customers_aggregated") == 0
    acme = {"customer": "acme"}
    for outcome, n in {
        "success": 8,
        "failed": 1,
        "wrong_file": 1,
        "unchanged": 1,
        "partial": 0,
        "needs_review": 0,
    }.items():
        assert sample(text, "finsync_syncs_24h", outcome=outcome, **acme) == n, outcome
    assert sample(text, "finsync_wrong_files_prevented_24h", **acme) == 1
    assert sample(text, "finsync_sync_rows_read_24h", **acme) == 900
    assert sample(text, "finsync_sync_rows_rejected_24h", **acme) == 116
    assert sample(text, "finsync_sync_rows_imported_24h", **acme) == 8 * 98
    assert sample(text, "finsync_last_sync_status", status="unchanged", **acme) == 1
    assert sample(text, "finsync_last_sync_status", status="failed", **acme) == 0
    assert sample(text, "finsync_last_sync_duration_seconds", **acme) == 400
    assert 7 * 60 - 5 < sample(text, "finsync_sync_running_seconds", **acme) < 7 * 60 + 60
    assert sample(text, "finsync_sync_interval_seconds", **acme) == 3600
    assert (
        200 - 5 < sample(text, "finsync_data_age_seconds", **acme) < 200 + 60
    )  # ended 10 min - 400 s ago
    assert sample(text, "finsync_customer_stale", **acme) == 0
    # beta: its last good sync 3 days ago on a daily schedule: stale; a review waits
    assert sample(text, "finsync_customer_stale", customer="beta") == 1
    assert sample(text, "finsync_reviews_pending", customer="beta") == 1
    assert sample(text, "finsync_reviews_pending", **acme) == 0
    assert sample(text, "finsync_customers_stale") == 1
    assert sample(text, "finsync_customers_by_last_sync_status", status="needs_review") == 1
    # odd characters are escaped in the exposition and read back intact; a manual customer
    # has no schedule series (so no freshness alert), but its age is reported
    assert '\\"' in text and "\\\\" in text and "\\n" in text
    assert sample(text, "finsync_syncs_24h", customer=ODD, outcome="success") == 1
    assert sample(text, "finsync_sync_interval_seconds", customer=ODD) is None
    assert sample(text, "finsync_data_age_seconds", customer=ODD) is not None
    # nothing secret or customer-written: tokens, connection details, messages, file names
    for secret in (*seeded.values(), "s3cr3t", "b.csv", "pay.csv", "Z9SECRETCELL"):
        assert secret not in text
    dbname = re.search(r"dbname=(\S+)", warehouse).group(1)
    assert dbname not in text and "password" not in text.lower()


def test_above_the_customer_limit_customers_are_aggregated(client, seeded, monkeypatch):
    monkeypatch.setenv("FINSYNC_METRICS_MAX_CUSTOMERS", "2")
    text = client.get("/metrics").text
    assert sample(text, "finsync_metrics_customers_aggregated") == 1
    labels = {
        s.labels["customer"]
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if "customer" in s.labels
    }
    assert labels == {"_all"}
    assert sample(text, "finsync_syncs_24h", customer="_all", outcome="success") == 9
    assert sample(text, "finsync_sync_rows_rejected_24h", customer="_all") == 116
    assert sample(text, "finsync_reviews_pending", customer="_all") == 1
    assert sample(text, "finsync_last_sync_duration_seconds", customer="_all") == 400
    # freshness: the customer furthest behind its schedule (beta, 3 days on a daily one)
    assert sample(text, "finsync_sync_interval_seconds", customer="_all") == 86400
    assert sample(text, "finsync_data_age_seconds", customer="_all") > 71 * 3600
    assert sample(text, "finsync_customers_stale") == 1


def test_the_page_numbers_come_from_the_same_query(client, seeded):
    assert client.get("/sync/stats").status_code == 401
    assert client.get("/sync/stats", headers=bearer(seeded["acme"])).status_code == 403
    r = client.get("/sync/stats", headers=bearer(seeded["admin"]))
    assert r.status_code == 200, r.text
    week = r.json()
    # 7 days: acme 8 + 1 + 1 + 1 + the one 3 days ago, beta 2, ODD 1 (running not counted)
    assert week["syncs"] == 15 and week["failed"] == 1
    assert week["success_rate"] == round(1 - 1 / 15, 4)
    assert week["wrong_files_prevented"] == 1
    assert week["rows_rejected"] == 116 and week["rows_read"] == 965
    assert week["stale_customers"] == ["beta"] and week["customers"] == 3
    assert 2.0 <= week["p95_duration_seconds"] <= 400.0


def test_requests_and_bookings_are_counted(client, conn):
    seed_customer(conn, "acme", budgets=[("Marketing", None, "FY2025", "100.00")])
    t = tokens(conn, "acme")

    def counts():
        text = client.get("/metrics").text
        return {
            "booked": sample(text, "finsync_bookings_total", operation="reserve", outcome="booked"),
            "refused": sample(
                text, "finsync_booking_refusals_total", operation="reserve", reason="over_budget"
            ),
            "replayed": sample(
                text, "finsync_bookings_total", operation="reserve", outcome="replayed"
            ),
            "checks": sample(
                text,
                "finsync_http_request_duration_seconds_count",
                endpoint="/budget/check",
                method="POST",
                status="200",
            ),
            "other": sample(
                text,
                "finsync_http_request_duration_seconds_count",
                endpoint="other",
                method="GET",
                status="404",
            ),
            "made_up_method": sample(
                text, "finsync_http_request_duration_seconds_count", method="other", status="405"
            ),
        }

    before = counts()
    body = {"department": "Marketing", "date": "2025-03-01", "amount": 60}
    h = {**bearer(t["acme"]), "Idempotency-Key": "k1"}
    assert client.post("/budget/reserve", json=body, headers=h).status_code == 201
    assert client.post("/budget/reserve", json=body, headers=h).status_code == 201  # replayed
    h2 = {**bearer(t["acme"]), "Idempotency-Key": "k2"}
    assert client.post("/budget/reserve", json=body, headers=h2).status_code == 409
    for _ in range(3):
        r = client.post("/budget/check", json=body, headers=bearer(t["acme"]))
        assert r.status_code == 200
    assert client.get("/no/such/path/123").status_code == 404
    assert client.request("BREW", "/budget/check").status_code == 405
    after = counts()
    delta = {k: (after[k] or 0) - (before[k] or 0) for k in after}
    assert delta == {
        "booked": 1,
        "refused": 1,
        "replayed": 1,
        "checks": 3,
        "other": 1,
        "made_up_method": 1,
    }
    text = client.get("/metrics").text
    assert "/no/such/path" not in text and "BREW" not in text  # never label values


def test_on_the_airflow_mount_metrics_are_admin_only(warehouse, conn):
    t = tokens(conn, "acme")
    with TestClient(app) as plain:
        warm(plain.get)
    with TestClient(app, root_path="/finsync") as c:
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers=bearer(t["acme"])).status_code == 403
        r = c.get("/metrics", headers=bearer(t["admin"]))
        assert r.status_code == 200 and sample(r.text, "finsync_warehouse_up") == 1


# ---- the warehouse down or hanging -------------------------------------------------------------


@pytest.fixture
def black_hole():
    """A TCP port that accepts connections and never answers (a hung server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        yield s.getsockname()[1]


def test_a_scrape_with_the_warehouse_hanging_answers_quickly(tmp_path, black_hole, warehouse):
    from tests.integration.api_helpers import uvicorn_server

    env = {
        # (the DSN directly, so the service needs no Airflow import: every scrape below
        # reaches the hung server rather than the warm-up)
        "FINSYNC_WAREHOUSE_DSN": f"postgresql://u:hunter2@127.0.0.1:{black_hole}/wh",
        "FINSYNC_METRICS_WAREHOUSE_TIMEOUT": "1",
        "FINSYNC_METRICS_CACHE_SECONDS": "0",
    }
    with uvicorn_server(tmp_path / "api.log", **env) as url:
        took = []
        for _ in range(3):
            t = time.monotonic()
            r = httpx.get(f"{url}/metrics", timeout=30)
            took.append(time.monotonic() - t)
            assert r.status_code == 200
        assert max(took) < 3.0, took  # never hangs
        assert max(took) >= 0.9, took  # it did wait for the warehouse, then gave up
        text = r.text
        assert sample(text, "finsync_warehouse_up") == 0
        assert sample(text, "finsync_customers") is None  # no stale figures
        assert (
            sample(
                text,
                "finsync_http_request_duration_seconds_count",
                endpoint="/metrics",
                method="GET",
                status="200",
            )
            >= 1
        )
        assert "hunter2" not in text and str(black_hole) not in text and "127.0.0.1" not in text


# ---- the alert rules ---------------------------------------------------------------------------


@needs_prometheus
def test_the_rule_file_is_valid_and_every_alert_is_unit_tested():
    out = subprocess.run(
        [PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    alerts = {r["alert"] for r in rules}
    assert f"SUCCESS: {len(rules)} rules found" in out.stdout
    runbook = (ROOT / "docs" / "operations.md").read_text()
    for rule in rules:
        notes = rule["annotations"]
        assert notes["summary"] and notes["description"], rule["alert"]
        if "customer" in rule["expr"]:  # per customer: the description names it
            assert "{{ $labels.customer }}" in notes["description"], rule["alert"]
        anchor = notes["runbook_url"].split("#")[1]
        assert notes["runbook_url"].startswith("docs/operations.md#")
        assert f"### {rule['alert']}" in runbook and anchor == rule["alert"].lower()

    out = subprocess.run(
        [PROMTOOL, "test", "rules", RULE_TESTS.name],
        cwd=RULE_TESTS.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    tested = {
        t["alertname"]
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for t in test["alert_rule_test"]
        if t["exp_alerts"]
    }
    assert tested == alerts


# ---- end to end: a real Prometheus scraping `finsync api serve` -------------------------------


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory):
    if not os.access(PROMETHEUS, os.X_OK):
        pytest.skip("Debian's prometheus is not installed (make prometheus)")
    with prometheus_server(tmp_path_factory.mktemp("prometheus")) as server:
        yield server


@pytest.fixture
def api_serve(warehouse, tmp_path):
    """`finsync api serve --workers 2` on a free loopback port; yields host:port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    finsync = str(Path(sys.executable).with_name("finsync"))
    env = {**os.environ, "FINSYNC_METRICS_CACHE_SECONDS": "0.5"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "serve.log"
    cmd = [finsync, "api", "serve", "--workers", "2", "--port", str(port)]
    ready = f"http://127.0.0.1:{port}/metrics"
    with processes.serving(cmd, env=env, log=log, ready=ready, timeout=90):
        yield f"127.0.0.1:{port}"


def _firing(prometheus, alertname: str, customer: str) -> list[dict]:
    return [
        a
        for a in prometheus.alerts()
        if a["labels"].get("alertname") == alertname
        and a["labels"].get("customer") == customer
        and a["state"] == "firing"
    ]


def _value(prometheus, expr: str) -> float | None:
    result = prometheus.query(expr)
    return float(result[0]["value"][1]) if result else None


def _drop(folder: Path, name: str, data: bytes) -> None:
    path = folder / name
    path.write_bytes(data)
    old = time.time() - 120
    os.utime(path, (old, old))


@needs_prometheus
def test_failing_syncs_fire_the_alert_in_a_real_prometheus(prometheus, api_serve, conn, tmp_path):
    inbox, work = tmp_path / "inbox", tmp_path / "work"
    inbox.mkdir()
    config_id = configs.add(
        conn,
        customer_id="acme",
        source_type="local",
        source_config={"path": str(inbox), "glob": "*"},
        frequency="hourly",
        settle_seconds=0,
    )
    (cfg,) = configs.load(conn, config_id=config_id)
    for k in range(1, 31):  # a good day: 30 successful hourly syncs
        history(conn, "acme", "success", ago_min=45 * k, rows=100)
    seed_customer(conn, ODD, frequency="manual")
    t = tokens(conn, "acme")

    prometheus.scrape(api_serve)
    prometheus.wait(
        "scrape of the service",
        lambda: _value(prometheus, 'finsync_syncs_24h{customer="acme",outcome="success"}') == 30,
    )
    assert _value(prometheus, "finsync_warehouse_up") == 1
    # label values with quotes, backslashes and newlines arrive intact
    odd = prometheus.query('finsync_syncs_24h{outcome="success"}')
    assert ODD in {r["metric"]["customer"] for r in odd}
    # budget checks through both workers: every one counted, whichever worker answers
    for _ in range(12):
        body = {"department": "Marketing", "date": "2025-03-01", "amount": 1}
        with httpx.Client() as one:  # a new connection each time
            r = one.post(f"http://{api_serve}/budget/check", json=body, headers=bearer(t["acme"]))
            assert r.status_code == 404  # acme has no budgets: still a check
    prometheus.wait(
        "budget checks counted",
        lambda: (
            _value(
                prometheus,
                'sum(finsync_http_request_duration_seconds_count{endpoint="/budget/check"})',
            )
            == 12
        ),
    )
    time.sleep(3)  # several rule evaluations on the good day: nothing fires
    assert not _firing(prometheus, "FinsyncSyncSuccessRateLow", "acme")
    # and every scrape since, whichever worker answered it, reported all 12 (one worker's own
    # counts would alternate with the other's)
    changes = (
        'sum(changes(finsync_http_request_duration_seconds_count{endpoint="/budget/check"}[3s]))'
    )
    assert _value(prometheus, changes) == 0

    # the customer's syncs fail: two unreadable files and a payroll export, through the sync
    for name in ("budget-1.xlsx", "budget-2.xlsx"):
        _drop(inbox, name, b"PK\x03\x04 this is not a workbook")
        outcome = sync_customer(conn, cfg, work_dir=work)
        assert outcome.status == "failed" and "not a budget" not in outcome.message
    payroll = "Employee ID,Employee Name,Department,Job Title,Base Salary,Overtime,Gross Pay\n"
    payroll += "".join(
        f"E{i},Person {i},Sales,Rep,{50000 + i},{i},{52000 + i}\n" for i in range(30)
    )
    _drop(inbox, "export.csv", payroll.encode())
    outcome = sync_customer(conn, cfg, work_dir=work)
    assert outcome.status == "failed" and "looks like a payroll file" in outcome.message

    alert = prometheus.wait(
        "FinsyncSyncSuccessRateLow firing for acme",
        lambda: _firing(prometheus, "FinsyncSyncSuccessRateLow", "acme"),
    )[0]
    assert "Customer acme" in alert["annotations"]["description"]
    assert alert["annotations"]["runbook_url"] == "docs/operations.md#finsyncsyncsuccessratelow"
    # 2 failures in 33 attempts: 93.9 %; the refused payroll file is prevention, not failure
    assert _value(prometheus, 'finsync_wrong_files_prevented_24h{customer="acme"}') == 1
    assert _value(prometheus, 'finsync_syncs_24h{customer="acme",outcome="failed"}') == 2
    assert float(alert["value"]) == pytest.approx(1 - 2 / 33)


# ---- the Budget sync page's numbers --------------------------------------------------------


@contextmanager
def served_under_finsync(log: Path):
    """The service as the page expects it (under /finsync, as Airflow mounts it), by uvicorn."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "uvicorn", "tests.integration.mounted_app:app"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with processes.serving(cmd, env=env, log=log, ready=f"{url}/finsync/ui/"):
        yield url


def test_the_budget_sync_page_shows_the_last_7_days(seeded, tmp_path, warehouse):
    """The page (served by the service, the admin token sent by the browser) shows the week's
    success rate, p95 duration, rows rejected, wrong files prevented and stale customers."""
    from tests.integration.test_budget_ui import CHROMIUM, CHROMIUM_ARGS

    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"Chromium is missing at {CHROMIUM}: run `make browser`", pytrace=False)
    from playwright.sync_api import expect, sync_playwright

    with served_under_finsync(tmp_path / "api.log") as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_context(extra_http_headers=bearer(seeded["admin"])).new_page()
            page.goto(f"{url}/finsync/ui/")
            week = page.locator("#week")
            expect(week).to_be_visible(timeout=60_000)
            tiles = {
                t.locator(".l").inner_text(): (
                    t.locator(".n").inner_text(),
                    t.get_attribute("title"),
                )
                for t in week.locator("li").all()
            }
        finally:
            browser.close()
    assert tiles["Success rate, 7 days"] == ("93.3 %", "15 syncs, 1 failed")
    assert tiles["Rows rejected, 7 days"] == ("116", "of 965 rows read")
    assert tiles["Wrong files prevented"][0] == "1"
    assert tiles["Stale customers"] == ("1", "beta")
    assert re.fullmatch(r"\d+\.\d (s|min)", tiles["p95 sync duration"][0])


def test_serve_gives_several_workers_one_fresh_counters_directory(tmp_path, monkeypatch):
    import tempfile

    from finsync.api.metrics import MULTIPROC_ENV, prepare_workers

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv(MULTIPROC_ENV, "unset below")
    monkeypatch.delenv(MULTIPROC_ENV)
    assert prepare_workers(1) is None and MULTIPROC_ENV not in os.environ  # counts in memory
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = tmp_path / f"finsync-metrics-{gone.pid}-abc"  # a killed server's
    mine = tmp_path / f"finsync-metrics-{os.getpid()}-def"  # a running one's
    for d in (stale, mine):
        d.mkdir()
        (d / "counter_1.db").write_bytes(b"x")
    path = prepare_workers(2)
    assert os.environ[MULTIPROC_ENV] == path and Path(path).is_dir() and not os.listdir(path)
    assert Path(path).parent == tmp_path and path not in (str(stale), str(mine))
    assert not stale.exists() and mine.exists()
    assert prepare_workers(2) == path  # set: kept
