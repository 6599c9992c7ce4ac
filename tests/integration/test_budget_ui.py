"""The "Budget sync" page of finsync's Airflow plugin, end to end: stock Airflow (API server and
scheduler) on real PostgreSQL, the page loaded in the Airflow UI (/plugin/budget-sync, an iframe)
and on its own (/finsync/ui/) by headless Chromium (Debian's, driven by Playwright), Refresh Now
starting a real budget_sync run. Also: the budget service is really served by Airflow's API
server, and only to callers who authenticate.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from tests import processes
from tests.integration.api_helpers import bearer, seed_customer, tokens
from tests.integration.conftest import AIRFLOW, _free_port

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path("/tmp/budget_ui.png")
DAG_ID = "budget_sync"
# Customer data is untrusted: it must show up as text, never run.
HOSTILE = '<img src=x onerror="window.__xss=1">'
REVIEW_RUN = "scheduled__2026-11-21T23:00:00+00:00"


def _http(env, method: str, path: str, body=None, headers=None, raw: bool = False):
    """(status, body) of a request to the API server; body parsed as JSON unless raw."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        env["api_url"] + path,
        method=method,
        data=data,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, payload = exc.code, exc.read()
    return status, payload.decode() if raw else json.loads(payload or b"null")


def _airflow(env, method: str, path: str, body=None):
    status, payload = _http(env, method, "/api/v2" + path, body)
    assert status < 300 or status == 409, (method, path, status, payload)
    return payload


def _run_ids(env) -> set[str]:
    """The budget_sync runs Airflow's REST API lists (the metadata DB outlives a test)."""
    runs = _airflow(env, "GET", f"/dags/{DAG_ID}/dagRuns?limit=1000")["dag_runs"]
    return {r["dag_run_id"] for r in runs if (r["conf"] or {}).get("customer_id")}


@pytest.fixture
def airflow(airflow_services):
    """The services with budget_sync unpaused and its pool (the fixture ends runs left
    unfinished by earlier tests before and after)."""
    env = airflow_services
    _airflow(env, "POST", "/pools", {"name": "budget_sync", "slots": 5})
    _airflow(env, "PATCH", f"/dags/{DAG_ID}", {"is_paused": False})
    yield env


@pytest.fixture
def chromium():
    """Debian's Chromium driven by Playwright (no browser download). Missing, the test fails:
    `make test` installs it (its `browser` step)."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: run `make browser` "
            "(apt-get install -y chromium) — `make test` does this first",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


def _seed(conn, tmp_path: Path) -> dict:
    """Three customers: acme (a success 2 hours ago after a failed file with rejected rows, with
    audit-logged changes for the chart), globex (waiting for a person's review) and initech
    (disabled, never synced, a hostile source path). None is due, so a scheduled run of the DAG
    syncs nobody."""
    now = datetime.now(UTC)
    inbox = tmp_path / "acme-inbox"
    inbox.mkdir()
    rejects = tmp_path / "rejects.csv"
    rejects.write_text(
        'row,column,value,message\n7,Amount,"12,34.5x",not an amount\n'
        f'12,Period,"{HOSTILE.replace(chr(34), chr(34) * 2)}",unreadable period\n',
        encoding="utf-8",
    )

    def config(customer_id, frequency, path, **cols) -> int:
        config_id = conn.execute(
            "insert into budget_data_source_config (customer_id, source_type, frequency, "
            "source_config, settle_seconds) values (%s, 'local', %s, %s, 0) returning config_id",
            (customer_id, frequency, json.dumps({"path": str(path), "glob": "*.csv"})),
        ).fetchone()[0]
        if cols:
            sets = ", ".join(f"{k} = %({k})s" for k in cols)
            conn.execute(
                f"update budget_data_source_config set {sets} where config_id = %(id)s",
                {**cols, "id": config_id},
            )
        return config_id

    def attempt(customer_id, config_id, status, ago, **cols) -> int:
        start = now - ago
        cols = {"end_time": start + timedelta(seconds=4), "duration_ms": 4000, **cols}
        if "errors" in cols:
            cols["errors"] = json.dumps(cols["errors"])
        if "review" in cols:
            cols["review"] = json.dumps(cols["review"])
        names = ["customer_id", "config_id", "status", "start_time", *cols]
        return conn.execute(
            f"insert into sync_history ({', '.join(names)}) "
            f"values ({', '.join(['%s'] * len(names))}) returning sync_id",
            (customer_id, config_id, status, start, *cols.values()),
        ).fetchone()[0]

    def budget(department, amount, deleted=False) -> int:
        return conn.execute(
            "insert into budget (customer_id, department, fiscal_period, budgeted_amount, "
            "currency, source, deleted_at) values ('acme', %s, 'FY2026', %s, 'USD', 'test', %s) "
            "returning budget_id",
            (department, amount, now if deleted else None),
        ).fetchone()[0]

    def audit(budget_id, sync_id, action, old, new) -> None:
        conn.execute(
            "insert into audit_log (budget_id, customer_id, sync_id, action, old_values, "
            "new_values, actor) values (%s, 'acme', %s, %s, %s, %s, 'sync')",
            (budget_id, sync_id, action, old and json.dumps(old), new and json.dumps(new)),
        )

    acme = config(
        "acme",
        "every_4_hours",
        inbox,
        last_sync_at=now - timedelta(hours=2),
        last_sync_status="success",
        next_sync_at=now + timedelta(hours=2),
    )
    first = attempt(
        "acme", acme, "success", timedelta(days=3), file_name="acme_2026-11-19.csv",
        total_rows=3, created_count=3,
    )  # fmt: skip
    failed = attempt(
        "acme", acme, "failed", timedelta(days=1), file_name=f"acme_{HOSTILE}.csv",
        total_rows=14, error_count=2, reject_file=str(rejects),
        message="2 of 14 rows rejected (14.3 %, tolerance 0 %): nothing was imported and the "
        "previous budgets stay in force",
        errors=[
            {"row": 7, "column": "Amount", "value": "12,34.5x", "message": "not an amount"},
            {"row": 12, "column": "Period", "value": HOSTILE, "message": "unreadable period"},
        ],
    )  # fmt: skip
    unchanged = attempt(
        "acme", acme, "unchanged", timedelta(hours=12), message="no new file since the last sync"
    )
    latest = attempt(
        "acme", acme, "success", timedelta(hours=2), file_name="acme_2026-11-21.xlsx",
        total_rows=4, created_count=1, updated_count=1, unchanged_count=1, soft_deleted_count=1,
        triggered_by="schedule", airflow_run_id="scheduled__2026-11-21T22:00:00+00:00",
    )  # fmt: skip
    marketing, it = budget("Marketing", "12000.00"), budget("IT", "5000.00")
    sales, hr = budget("Sales", "2500.00", deleted=True), budget("HR", "3000.00")
    for budget_id, amount in ((marketing, 10000), (it, 5000), (sales, 2500)):
        audit(budget_id, first, "create", None, {"budgeted_amount": amount, "currency": "USD"})
    audit(marketing, latest, "update", {"budgeted_amount": 10000}, {"budgeted_amount": 12000})
    audit(hr, latest, "create", None, {"budgeted_amount": 3000, "currency": "USD"})
    audit(sales, latest, "soft_delete", {"budgeted_amount": 2500}, {"deleted_at": str(now)})

    globex = config(
        "globex",
        "hourly",
        tmp_path / "globex",
        last_sync_at=now - timedelta(minutes=30),
        last_sync_status="needs_review",
        next_sync_at=now + timedelta(minutes=30),
    )
    review = attempt(
        "globex", globex, "needs_review", timedelta(minutes=30), file_name="globex_fy26.csv",
        airflow_run_id=REVIEW_RUN, review={"kind": "mapping", "headers": ["A", "B"]},
        message="the column mapping needs a person (confidence 0.41 < 0.80): nothing was "
        "imported yet",
    )  # fmt: skip
    config("initech", "daily", f"/exports/{HOSTILE}", enabled=False)
    return {"failed": failed, "unchanged": unchanged, "latest": latest, "review": review}


@pytest.fixture
def patient_expect():
    """expect() waits 20 s, not 5: the Airflow UI and each preview are slow on a busy machine."""
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)
    yield
    expect.set_options(timeout=5_000)


def _seed_webhook(conn) -> None:
    """acme's webhook endpoint, whose last try was answered 500 (docs/webhooks.md)."""
    from finsync.budget import config as configs

    url = "https://erp.example.com/hooks/finsync?k=1"
    (cfg,) = configs.load(conn, customer_id="acme")
    configs.update(
        conn, cfg.config_id, {"webhooks": [{"url": url, "conn_id": "acme_webhook"}]}, changed_by="t"
    )
    conn.execute(
        "insert into webhook_event (event_id, customer_id, config_id, event_type, subject, "
        "endpoint_url, conn_id, payload, attempts) values ('msg_ui', 'acme', %s, "
        "'sync.succeeded', 'sync:1', %s, 'acme_webhook', '{}', 1)",
        (cfg.config_id, url),
    )
    conn.execute(
        "insert into webhook_delivery (event_id, attempt, sent_by, duration_ms, status_code, "
        "is_success, error) values ('msg_ui', 1, 'sync', 40, 500, false, 'HTTP 500')"
    )


def test_budget_sync_page_in_the_airflow_ui(conn, airflow, chromium, tmp_path, patient_expect):
    from playwright.sync_api import expect

    started = time.monotonic()
    env = airflow
    base = env["api_url"]
    seeded = _seed(conn, tmp_path)
    _seed_webhook(conn)

    context = chromium.new_context(viewport={"width": 1440, "height": 1050})
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # 1. In the Airflow UI: the nav entry's page shows /finsync/ui/ in an iframe. In this local
    # setup (all admins) nobody has signed in: the page's first call gets 401 and it signs in
    # through Airflow's login (no password here), which sets the UI's session cookie.
    page.goto(base + "/plugin/budget-sync")
    frame = page.frame_locator('iframe[title="Budget sync"]')
    acme = frame.locator('#customers tr[data-customer="acme"]')
    expect(acme).to_contain_text("2 hours ago")
    assert any(c["name"] == "_token" and c["httpOnly"] for c in context.cookies())
    expect(acme.locator("td").nth(0)).to_have_text("Success")
    expect(acme).to_contain_text("in 2 hours")  # next sync
    expect(acme).to_contain_text(f"local:{tmp_path}/acme-inbox/*.csv")
    # created, updated, unchanged, soft-deleted, errors of the last run
    expect(acme.locator("td.num")).to_have_text(["1", "1", "1", "1", "0"])

    globex = frame.locator('#customers tr[data-customer="globex"]')
    expect(globex.locator(".badge").first).to_have_text("Needs review")
    review_link = globex.locator("a[data-review]")
    review_route = f"/dags/{DAG_ID}/runs/{quote(REVIEW_RUN, safe='')}/required_actions"
    expect(review_link).to_have_attribute("href", review_route)
    initech = frame.locator('#customers tr[data-customer="initech"]')
    expect(initech.locator(".badge")).to_have_text("Disabled")
    expect(initech).to_contain_text("never")
    expect(initech).to_contain_text(f"/exports/{HOSTILE}/*.csv")  # as text
    expect(frame.locator("#tiles")).to_contain_text("1Need review")

    # 2. acme's history: the failure's reason and rejected rows, the reject file, the chart.
    frame.locator('button[data-select="acme"]').click()
    expect(frame.locator("#detail-h")).to_have_text("acme")
    failed = frame.locator(f'#history-table tr[data-sync-id="{seeded["failed"]}"]')
    expect(failed.locator(".badge")).to_have_text("Failed")
    expect(failed).to_contain_text("1 day ago")
    expect(failed).to_contain_text(f"acme_{HOSTILE}.csv")
    details = failed.locator("xpath=following-sibling::tr[1]")
    expect(details.locator(".reason")).to_have_text(
        "Why it failed: 2 of 14 rows rejected (14.3 %, tolerance 0 %): nothing was imported and "
        "the previous budgets stay in force"
    )
    expect(details.locator("tr.reject")).to_have_count(2)
    expect(details.locator("tr.reject").nth(0).locator("td")).to_have_text(
        ["7", "Amount", "12,34.5x", "not an amount"]
    )
    expect(details.locator("tr.reject").nth(1).locator("td")).to_have_text(
        ["12", "Period", HOSTILE, "unreadable period"]
    )
    download = details.locator("a[data-rejects]")
    href = f"/finsync/sync/history/{seeded['failed']}/rejects"
    expect(download).to_have_attribute("href", href)
    csv = context.request.get(base + href)  # with the page's session cookie
    assert csv.status == 200 and "12,34.5x" in csv.text()
    assert _http(env, "GET", href)[0] == 401  # no session, no rejected rows

    # acme's webhook endpoint (without its query string) and its last delivery try
    hook = frame.locator("#webhooks-table tbody tr")
    expect(hook).to_have_count(1)
    expect(hook).to_contain_text("https://erp.example.com/hooks/finsync")
    expect(hook).not_to_contain_text("k=1")
    expect(hook).to_contain_text("acme_webhook")
    expect(hook.locator(".badge")).to_have_text("HTTP 500")

    chart = frame.locator("svg#totals-chart")
    expect(chart.locator("circle")).to_have_count(3)  # the success, unchanged and success
    expect(chart.locator("rect.bar.up")).to_have_count(2)  # +17,500 (first), +2,500 (latest)
    expect(chart.locator("desc")).to_contain_text("went from 17,500.00 to 20,000.00")
    expect(chart.locator("desc")).to_contain_text("by +2,500.00")
    assert frame.locator("body").evaluate("() => window.__xss") is None
    assert frame.locator("img").count() == 0

    # 3. Refresh Now starts a budget_sync run for acme; the page shows it and follows it.
    before = _run_ids(env)
    frame.locator('#detail-actions button[data-refresh="acme"]').click()
    expect(frame.locator("#notice")).to_contain_text("Sync started for acme")
    run_id = frame.locator("#started-run").inner_text()
    assert run_id.startswith("api__acme__")
    row = frame.locator(f'#history-table tr.attempt[data-run-id="{run_id}"]')
    expect(row).to_be_visible()
    expect(row.locator(".badge")).to_have_text(re.compile("Queued|Running|Unchanged"))
    run = _airflow(env, "GET", f"/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}")
    assert run["conf"] == {"customer_id": "acme", "force": False}
    assert run["state"] in ("queued", "running", "success")
    assert _run_ids(env) - before == {run_id}  # one run, for acme (and nothing else)
    # Nothing new in the inbox: the run's sync of acme ends `unchanged`, seen by the page.
    expect(row.locator(".badge")).to_have_text("Unchanged", timeout=60_000)
    expect(frame.locator("#notice")).to_contain_text("The sync of acme finished: Unchanged")
    expect(acme.locator("td").nth(0)).to_have_text("Unchanged")
    expect(acme).to_contain_text("just now")
    page.screenshot(path=str(SCREENSHOT))

    # 4. The pending review's link opens the run's required actions in the Airflow UI (the
    # iframe may not navigate the top window: the UI's router follows the link).
    globex.locator("a[data-review]").click()
    expect(page).to_have_url(base + review_route)
    expect(page.locator('iframe[title="Budget sync"]')).to_have_count(0)

    # 5. The page on its own, and a failing call shown as such.
    direct = context.new_page()
    direct.on("pageerror", lambda exc: errors.append(str(exc)))
    direct.goto(base + "/finsync/ui/?customer=acme")
    expect(direct.locator("#detail-h")).to_have_text("acme")
    expect(direct.locator('#customers tr[data-customer="acme"]')).to_contain_text("Unchanged")
    expect(direct.locator("svg#totals-chart circle")).to_have_count(4)
    expect(direct.locator(f'#history-table tr[data-sync-id="{seeded["latest"]}"]')).to_contain_text(
        "2 hours ago"
    )
    broken = context.new_page()
    broken.route(
        "**/finsync/sync/health",
        lambda route: route.fulfill(
            status=500, content_type="application/json", body='{"detail": "database is down"}'
        ),
    )
    broken.goto(base + "/finsync/ui/")
    expect(broken.locator("#alert[role=alert]")).to_have_text(
        "Could not load the customers' sync status: database is down (HTTP 500)."
    )
    # A 401 right after signing in (an expired or refused session) is not retried in a loop.
    signed_out = context.new_page()
    signed_out.add_init_script(
        "sessionStorage.setItem('finsync.budget-sync.sign-in', String(Date.now()))"
    )
    signed_out.route(
        "**/finsync/sync/health",
        lambda route: route.fulfill(
            status=401, content_type="application/json", body='{"detail": "expired"}'
        ),
    )
    signed_out.goto(base + "/finsync/ui/")
    expect(signed_out.locator("#alert")).to_contain_text("Sign in to Airflow.")
    expect(signed_out.locator("#sign-in")).to_have_attribute(
        "href", "/api/v2/auth/login?next=%2Ffinsync%2Fui%2F"
    )
    assert errors == []
    print(f"\nbudget UI test body: {time.monotonic() - started:.1f} s")


@pytest.fixture
def api_server(warehouse, airflow_db, tmp_path):
    """Airflow's API server alone (no scheduler needed here), as `airflow api-server` runs it
    in a deployment: it loads the plugin and mounts the budget service at /finsync."""
    port = _free_port()
    env = {**os.environ, "AIRFLOW__API__PORT": str(port), "api_url": f"http://127.0.0.1:{port}"}
    log = tmp_path / "api.log"
    with processes.running([AIRFLOW, "api-server", "--port", str(port)], env=env, log=log) as proc:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.3)
        yield env


def test_the_budget_service_is_served_by_airflows_api_server(conn, api_server):
    env = api_server
    seed_customer(conn, "acme", budgets=[("Marketing", None, "FY2026", "1000.00")])
    keys = tokens(conn, "acme")

    status, spec = _http(env, "GET", "/finsync/openapi.json")
    assert status == 200 and spec["info"]["title"] == "finsync budget service"
    assert {"/budget/check", "/sync/health", "/sync/trigger"} <= set(spec["paths"])
    status, html = _http(env, "GET", "/finsync/ui/", raw=True)
    assert status == 200 and "<title>Budget sync</title>" in html

    check = {"department": "Marketing", "period": "FY2026", "amount": 100}
    status, body = _http(env, "POST", "/finsync/budget/check", check, bearer(keys["acme"]))
    assert status == 200, body
    assert body["customer_id"] == "acme" and body["available"] == 1000 and body["fits"] is True

    # No credential: 401, although Airflow's all-admins middleware gives every request to its
    # API server an anonymous admin's Authorization header (src/finsync/api/dependencies.py).
    for method, path, payload in (
        ("POST", "/finsync/budget/check", check),
        ("GET", "/finsync/sync/health", None),
        ("POST", "/finsync/sync/trigger", {"customer_id": "acme"}),
    ):
        status, body = _http(env, method, path, payload)
        assert status == 401, (path, body)
    status, body = _http(env, "POST", "/finsync/budget/check", check, bearer("fsk_forged"))
    assert status == 401 and body["detail"] == "unknown or revoked API token"

    # An Airflow user's JWT (an explicit bearer) is accepted: admins may see every customer.
    status, token = _http(env, "GET", "/auth/token")
    assert status == 201
    status, body = _http(env, "GET", "/finsync/sync/health", None, bearer(token["access_token"]))
    assert status == 200 and [c["customer_id"] for c in body["customers"]] == ["acme"]
    status, body = _http(env, "GET", "/finsync/sync/health", None, bearer(keys["acme"]))
    assert status == 403


# ---- onboarding a customer from the page ------------------------------------------------------

# The tutorial's screenshots (docs/onboarding.md) are taken on every run, into the session's
# own FINSYNC_HOME (removed after it) so `make test` leaves the checkout clean; `make
# screenshots` writes them into docs/img (DOCS_SCREENSHOTS), as the test just saw the page.
DOCS_IMG = Path(
    os.environ.get("DOCS_SCREENSHOTS") or Path(os.environ["FINSYNC_HOME"]) / "screenshots"
)
# A customer's sample export as FP&A tools write them: a title block, the header on row 3, one
# column per month, a GL account finer than the budget key, a constant Region, a total row, and
# a header that is hostile markup (shown as text, never run).
SAMPLE = f"""Wombat Pty Ltd - Budget FY2026 (Adaptive Planning export)
Version: Board approved,,,,,,,,,,
Region,Cost Centre,Category,GL Account,Notes {HOSTILE},Jul 2025,Aug 2025,Sep 2025,Oct 2025,Nov 2025,Dec 2025
ANZ,Marketing,Events,6100 Venue hire,,"8,000.00","8,000.00","10,000.00","6,000.00","6,000.00","2,500.00"
ANZ,Marketing,Events,6110 Catering,,"4,000.00","4,000.00","5,500.00","3,000.00","3,000.00","1,500.00"
ANZ,Marketing,Digital ads,6200 Search,,"5,000.00","5,000.00","5,000.00","5,000.00","5,000.00","5,000.00"
ANZ,Marketing,Digital ads,6210 Social,,"3,250.00","3,250.00","3,250.00","3,250.00","3,250.00","3,250.00"
ANZ,IT,Software,6500 Subscriptions,renewals in Oct,"4,000.00","4,000.00","4,000.00","21,000.00","4,000.00","4,000.00"
ANZ,IT,Hardware,6600 Laptops,,"2,500.00",,"2,500.00",,"2,500.00",
ANZ,People & Culture,Training,6800 Courses,,"1,200.00","1,200.00","1,200.00","1,200.00","1,200.00","1,200.00"
Total,,,,,"27,950.00","25,450.00","31,450.00","39,450.00","24,950.00","17,450.00"
"""  # noqa: E501


def _stored(conn) -> tuple[int, int]:
    """(source configs, confirmed mapping versions) in the warehouse."""
    return conn.execute(
        "select (select count(*) from budget_data_source_config), "
        "(select count(*) from budget_column_mapping_history)"
    ).fetchone()


def _onboarding_dirs() -> set[Path]:
    import tempfile

    return set(Path(tempfile.gettempdir()).glob("finsync-onboarding-*"))


# Both onboarding tests check that no onboarding temp folder is left in the shared temp dir:
# one xdist worker runs them one after the other, so neither sees the other's folder.
@pytest.mark.xdist_group("onboarding")
def test_onboarding_a_customer_from_the_page(
    conn, sftp, airflow, chromium, patient_expect, tmp_path
):
    """Upload a sample export, review what finsync makes of it, change the mapping, calendar and
    currency, save; then the customer's first import from SFTP and a budget check. Saves the
    screenshots of docs/onboarding.md."""
    from playwright.sync_api import expect

    from finsync.budget.mapping import CONFIDENCE_BAR, map_columns
    from finsync.budget.model import FIELDS
    from finsync.budget.read import parse_file
    from tests.integration.conftest import SFTP_CONN_ID

    env = airflow
    base = env["api_url"]
    sample = tmp_path / "wombat_budget_fy2026.csv"
    sample.write_text(SAMPLE, encoding="utf-8")
    temp_before = _onboarding_dirs()

    context = chromium.new_context(viewport={"width": 1200, "height": 900}, locale="en-US")
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(base + "/plugin/budget-sync")
    frame = page.frame_locator('iframe[title="Budget sync"]')
    expect(frame.locator("#customers")).to_contain_text("No customer has a source config yet")

    # 1-2. The sample: file type, sheet, header row, layout, warnings.
    frame.locator("#onboard-open").click()
    expect(frame.locator("#onboard")).to_be_visible()
    frame.locator("#ob-file").set_input_files(str(sample))
    facts = frame.locator("#ob-facts")
    expect(facts.locator('dd[data-fact="File type"]')).to_have_text(
        re.compile(r"^budget · confidence 0\.\d\d$")
    )
    expect(facts.locator('dd[data-fact="Sheet"]')).to_have_text("— (a text file)")
    expect(facts.locator('dd[data-fact="Header row"]')).to_have_text("3")
    expect(facts.locator('dd[data-fact="Layout"]')).to_contain_text(
        "wide: 6 period columns (Jul 2025 … Dec 2025)"
    )
    expect(facts.locator('dd[data-fact="Data rows"]')).to_have_text("7")
    expect(frame.locator("#ob-warnings")).to_contain_text("row 11")  # the total row, left out

    # 3. The mapping: the proposal with confidences and alternatives (as the mapper scores
    # them today), every header a choice.
    proposal = map_columns(parse_file(sample)).as_json()
    assert proposal["department"]["column"] == "Cost Centre"
    assert proposal["sub_category"]["column"] == "Category"
    assert "GL Account" in proposal["sub_category"]["alternatives"]
    for field in ("department", "sub_category"):
        row, match = frame.locator(f'#ob-mapping tr[data-field="{field}"]'), proposal[field]
        low = field == "department" and match["confidence"] < CONFIDENCE_BAR
        expect(frame.locator(f"#ob-map-{field}")).to_have_value(match["column"])
        expect(row.locator("[data-confidence]")).to_have_text(
            f"{round(match['confidence'] * 100)} %" + (" · check" if low else "")
        )
        expect(row.locator("button[data-alternative]")).to_have_text(match["alternatives"])
    sub_category = frame.locator('#ob-mapping tr[data-field="sub_category"]')
    expect(frame.locator('#ob-mapping tr[data-field="fiscal_period"] td').first).to_have_text(
        "the period columns"
    )
    expect(frame.locator("#ob-map-currency option")).to_have_text(
        ["— none —", "Region", "Cost Centre", "Category", "GL Account", f"Notes {HOSTILE}"]
    )

    # 4-6. The preview with the defaults (fiscal year from January, USD), then July and AUD.
    counts, first = frame.locator("#ob-counts"), frame.locator("#ob-budgets tr.budget").first
    n_budgets = 27  # 39 budget lines, 27 budgets once GL accounts are summed
    expect(counts).to_have_text(
        f"{n_budgets} budgets from 7 data rows, none rejected; the first 20:"
    )
    expect(first.locator("td")).to_have_text(
        ["Marketing", "Events", "FY2025-M07", "12,000.00", "USD",
         "row 4, Jul 2025"]
    )  # fmt: skip
    report = frame.locator("#ob-grain-report")
    expect(report).to_contain_text("39 rows in → 27 budgets out")
    expect(report).to_contain_text("Amounts summed over: GL Account")
    expect(report).to_contain_text("not part of a budget's key): Region")
    expect(report).to_contain_text("No conflicting rows.")
    frame.locator("#ob-fy-start").select_option("7")
    frame.locator("#ob-currency").fill("AUD")
    expect(first.locator("td").nth(2)).to_have_text("FY2026-M01")
    expect(first.locator("td").nth(4)).to_have_text("AUD")

    # The mapping is changeable: an alternative, a select, back to the proposal.
    sub_category.locator("button[data-alternative]", has_text="GL Account").click()
    expect(sub_category.locator("[data-confidence]")).to_have_text("your choice")
    expect(first.locator("td").nth(1)).to_have_text("6100 Venue hire")
    expect(counts).to_contain_text("39 budgets from 7 data rows")
    expect(frame.locator("#ob-grain-report")).to_contain_text("No column is summed over")
    sub_category.locator("button[data-proposed]").click()
    expect(frame.locator("#ob-map-sub_category")).to_have_value("Category")
    frame.locator("#ob-map-department").select_option("Region")
    expect(first.locator("td").first).to_have_text("ANZ")
    frame.locator("#ob-map-department").select_option("Cost Centre")
    expect(first.locator("td")).to_have_text(
        ["Marketing", "Events", "FY2026-M01", "12,000.00", "AUD",
         "row 4, Jul 2025"]
    )  # fmt: skip
    expect(counts).to_contain_text(f"{n_budgets} budgets")
    assert frame.locator("body").evaluate("() => window.__xss") is None
    assert _stored(conn) == (0, 0)  # nothing stored before Save
    assert _onboarding_dirs() == temp_before  # nor left behind on the server
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1200, "height": 2600})  # the whole form in the frame
    frame.locator("#onboard").screenshot(path=str(DOCS_IMG / "onboarding-preview.png"))
    page.set_viewport_size({"width": 1200, "height": 900})

    # 7. Source and schedule, then Save: the config and its confirmed mapping.
    frame.locator("#ob-customer").fill("wombat")
    frame.locator("#ob-source-type").select_option("sftp")
    expect(frame.locator("#ob-bucket")).to_be_hidden()
    frame.locator("#ob-conn-id").fill(SFTP_CONN_ID)
    frame.locator("#ob-path").fill("/exports")
    frame.locator("#ob-glob").fill("*.csv")
    frame.locator("#ob-frequency").select_option("manual")
    frame.locator("#ob-save").click()
    expect(frame.locator("#ob-saved")).to_contain_text("Saved wombat: config ")
    expect(frame.locator("#ob-saved")).to_contain_text("column mapping v1")
    expect(frame.locator("#onboard")).to_be_hidden()
    saved = conn.execute(
        "select source_type, source_config, frequency, fiscal_year_start_month, "
        "default_currency, column_mapping, column_mapping_version, enabled "
        "from budget_data_source_config where customer_id = 'wombat'"
    ).fetchall()
    mapping = {f: None for f in FIELDS} | {"department": "Cost Centre", "sub_category": "Category"}
    assert saved == [
        (
            "sftp",
            {"conn_id": SFTP_CONN_ID, "path": "/exports", "glob": "*.csv"},
            "manual",
            7,
            "AUD",
            mapping,
            1,
            True,
        )
    ]
    headers, confirmed_by = conn.execute(
        "select headers, confirmed_by from budget_column_mapping_history"
    ).fetchone()
    assert headers[:4] == ["Region", "Cost Centre", "Category", "GL Account"]
    assert confirmed_by.startswith("onboarding:airflow:")
    wombat = frame.locator('#customers tr[data-customer="wombat"]')
    expect(wombat).to_contain_text(f"sftp ({SFTP_CONN_ID}):/exports/*.csv")
    expect(wombat.locator(".badge").first).to_have_text("Never synced")
    expect(frame.locator("#detail-h")).to_have_text("wombat")

    # The first import: the export lands on the customer's SFTP server, Refresh now.
    exports = sftp.root / "exports"
    exports.mkdir(parents=True, exist_ok=True)
    landed = exports / "wombat_budget_fy2026.csv"
    landed.write_text(SAMPLE, encoding="utf-8")
    written = time.time() - 600  # written ten minutes ago: settled (settle_seconds 60)
    os.utime(landed, (written, written))
    frame.locator('#detail-actions button[data-refresh="wombat"]').click()
    expect(frame.locator("#notice")).to_contain_text("Sync started for wombat")
    run_id = frame.locator("#started-run").inner_text()
    row = frame.locator(f'#history-table tr.attempt[data-run-id="{run_id}"]')
    expect(row.locator(".badge")).to_have_text("Success", timeout=120_000)
    # created, updated, unchanged, soft-deleted, errors
    expect(row.locator("td.num").nth(0)).to_have_text(str(n_budgets))
    expect(wombat.locator("td.num")).to_have_text([str(n_budgets), "0", "0", "0", "0"])
    # the grain of the import, as the sync recorded it, in the history (GET /sync/history)
    stored = conn.execute("select grain from sync_history where customer_id = 'wombat'")
    assert stored.fetchone()[0]["budgets_out"] == 27
    line = frame.locator(f'#history-table tr[data-run-id="{run_id}"] + tr.more p[data-grain]')
    expect(line).to_have_text("Grain: 39 rows in → 27 budgets out; summed over GL Account")
    frame.locator("#detail").screenshot(path=str(DOCS_IMG / "onboarding-first-import.png"))

    # A budget check against the imported budgets, with the customer's own token.
    keys = tokens(conn, "wombat")
    check = {"department": "Marketing", "sub_category": "Events", "date": "2025-09-10",
             "amount": 500}  # fmt: skip
    status, body = _http(env, "POST", "/finsync/budget/check", check, bearer(keys["wombat"]))
    assert status == 200, body
    assert (body["fiscal_period"], body["currency"], body["fits"]) == ("FY2026-M03", "AUD", True)
    assert body["budgeted"] == 15500
    assert frame.locator("body").evaluate("() => window.__xss") is None
    assert errors == []


@pytest.mark.xdist_group("onboarding")
def test_onboarding_endpoints_check_inputs_and_store_nothing(conn, api_server, tmp_path):
    """POST /onboarding/preview and /onboarding/config through Airflow's API server: who may
    call them, the size cap (by Content-Length and while a chunked body arrives), 422s that
    never echo what was sent, no cell of a payroll file shown, nothing stored before a save,
    a scenario kept, and no second config for the same source."""
    import httpx

    env = api_server
    url = env["api_url"] + "/finsync/onboarding/"
    keys = tokens(conn, "acme")
    admin, acme = bearer(keys["admin"]), bearer(keys["acme"])
    sample = ("wombat.csv", SAMPLE.encode(), "text/csv")
    temp_before = _onboarding_dirs()

    def post(path, data=None, headers=admin, file=sample):
        response = httpx.post(url + path, data=data or {}, files={"file": file}, headers=headers)
        return response.status_code, response.json(), response.text

    status, body, _ = post("preview", headers={})
    assert status == 401
    status, body, _ = post("preview", {"fiscal_year_start_month": "7"}, headers=acme)
    assert status == 200, body  # a customer token may preview (nothing is stored)
    assert body["budget_count"] == 27 and body["grain"]["budgets_out"] == 27
    assert body["budgets"][0]["fiscal_period"] == "FY2026-M01"

    # A payroll file: refused as such, and none of its cells comes back.
    payroll = Path(__file__).parents[1] / "fixtures" / "budget_files" / "bad" / "payroll.csv"
    status, body, text = post("preview", file=("payroll.csv", payroll.read_bytes(), "text/csv"))
    assert status == 200 and body["analysis"]["file_type"] == "payroll"
    assert body["budgets"] == [] and body["errors"] == [] and body["preview"].startswith("not a")
    assert "Doe, Jane" not in text and "4250" not in text

    # 422s name the field, never the value sent.
    secret_column, secret = "Cost Centre (SECRET-4711)", "hunter2-not-for-logs"
    bad_mapping = json.dumps({"department": secret_column})
    status, body, text = post("preview", {"mapping": bad_mapping})
    assert status == 422 and "department" in text and "SECRET-4711" not in text
    status, body, text = post("preview", {"mapping": json.dumps({secret: "Region"})})
    assert status == 422 and secret not in text
    status, body, text = post("preview", {"mapping": "{not json " + secret})
    assert status == 422 and secret not in text
    for field, value in (
        ("default_currency", "usd"),
        ("default_currency", "XQZ"),
        ("fiscal_year_start_month", "13"),
        ("header_row", "0"),
    ):
        status, body, text = post("preview", {field: value})
        assert status == 422, (field, value, body)
        assert f'"{value}"' not in text
    config = {"customer_id": "wombat", "source_type": "sftp", "frequency": "daily",
              "mapping": json.dumps({"department": "Cost Centre", "sub_category": "Category"})}  # fmt: skip
    leaky = json.dumps({"conn_id": "wombat_sftp", "path": "/exports", "password": secret})
    status, body, text = post("config", {**config, "source_config": leaky})
    assert status == 422 and "password" in text and secret not in text

    # The size cap: refused before the form is read, declared or streamed.
    big = b"a,b\n" + b"1,2\n" * (21 * 1024 * 1024 // 4)
    status, body, _ = post("preview", file=("big.csv", big, "text/csv"))
    assert status == 413 and "20 MiB" in body["detail"]

    def chunks():
        yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\n'
        for _ in range(21):
            yield b"1,2\n" * (1024 * 1024 // 4)

    response = httpx.post(
        url + "preview",
        content=chunks(),
        headers={**admin, "Content-Type": "multipart/form-data; boundary=x"},
    )
    assert response.status_code == 413
    assert _stored(conn) == (0, 0)  # nothing stored by any preview
    assert _onboarding_dirs() == temp_before

    # Saving is an admin's (a source config names server folders and connections).
    good = json.dumps({"conn_id": "wombat_sftp", "path": "/exports", "glob": "*.csv"})
    status, body, _ = post("config", {**config, "source_config": good}, headers=acme)
    assert status == 403
    incomplete = {**config, "mapping": json.dumps({"sub_category": "Category"})}
    status, body, _ = post("config", {**incomplete, "source_config": good})
    assert status == 422 and "department" in body["detail"]
    assert _stored(conn) == (0, 0)
    status, body, _ = post("config", {**config, "source_config": good, "header_row": "3"})
    assert status == 201, body
    assert body["column_mapping_version"] == 1 and body["column_mapping"]["department"] == (
        "Cost Centre"
    )
    stored = conn.execute(
        "select source_config from budget_data_source_config where customer_id = 'wombat'"
    ).fetchone()[0]
    assert stored == {
        "conn_id": "wombat_sftp",
        "path": "/exports",
        "glob": "*.csv",
        "header_row": 3,
    }
    status, body, _ = post("config", {**config, "source_config": good})
    assert status == 409 and "PATCH /sync/config/" in body["detail"]
    assert _stored(conn) == (1, 1)

    # A file with budget and forecast versions: the chosen scenario is previewed and kept.
    versions = "Version,Department,Period,Amount\nBudget,IT,FY2026,100\nForecast,IT,FY2026,90\n"
    versioned = ("versions.csv", versions.encode(), "text/csv")
    status, body, _ = post("preview", {"scenario": "Forecast"}, file=versioned)
    assert status == 200, body
    assert body["grain"]["scenario"]["kept"] == "Forecast"
    assert [b["budgeted_amount"] for b in body["budgets"]] == ["90.00"]
    scenario_config = {**config, "customer_id": "globex", "source_type": "upload",
                       "mapping": json.dumps(body["mapping"]), "scenario": "Forecast",
                       "source_config": json.dumps({"path": str(tmp_path / "drop")})}  # fmt: skip
    status, body, _ = post("config", scenario_config, file=versioned)
    assert status == 201, body
    stored = conn.execute(
        "select source_config from budget_data_source_config where customer_id = 'globex'"
    ).fetchone()[0]
    assert stored == {"path": str(tmp_path / "drop"), "scenario": "Forecast"}
