"""The budget service end to end through FastAPI's TestClient, on a fresh real PostgreSQL per
test: budget checks, money movements, idempotency, FX, policies, auth, sync management and
file uploads (the last one starting a real `budget_sync` DagRun in Airflow's metadata DB)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from finsync.api.main import app
from finsync.budget.importer import import_budgets
from tests.conftest import fetch
from tests.integration.api_helpers import bearer, budget_sync_dag, seed_customer, tokens

pytestmark = pytest.mark.integration
__all__ = ["budget_sync_dag"]  # a fixture, used by name

BUDGETS = [
    ("Marketing", None, "FY2025", "12000.00"),
    ("Marketing", None, "FY2025-Q1", "3000.00"),
    ("Marketing", None, "FY2025-M02", "1000.00"),
    ("Marketing", "Events", "FY2025-M02", "400.00"),
]


@pytest.fixture
def client(warehouse):
    with TestClient(app) as c:  # the lifespan closes this loop's pool at the end
        yield c


@pytest.fixture
def acme(conn):
    """acme (budgets above, synced just now, calendar fiscal year) and beta (one budget)."""
    seed_customer(conn, "acme", budgets=BUDGETS)
    seed_customer(conn, "beta", budgets=[("Marketing", None, "FY2025", "50.00")])
    return tokens(conn, "acme", "beta")


def post(client, path, token, body, key: str | None = None):
    headers = bearer(token)
    if path != "/budget/check":
        headers["Idempotency-Key"] = key or uuid.uuid4().hex
    return client.post(path, json=body, headers=headers)


def check(client, token, **body):
    return post(client, "/budget/check", token, {"department": "Marketing", "amount": 1, **body})


def reserve(client, token, key=None, **body):
    return post(
        client, "/budget/reserve", token, {"department": "Marketing", "amount": 100, **body}, key
    )


def utilization(conn, budget_id):
    rows = fetch(
        conn,
        "select committed_amount, reserved_amount from budget_utilization where budget_id = %s",
        (budget_id,),
    )
    return (rows[0]["committed_amount"], rows[0]["reserved_amount"]) if rows else None


def log(conn):
    return fetch(
        conn,
        "select reservation_id, action, reserved_delta, committed_delta, idempotency_key "
        "from budget_utilization_log order by entry_id",
    )


# ---- which budget a check finds ------------------------------------------------------------


def test_check_uses_the_most_specific_period_containing_the_date(client, acme):
    r = check(client, acme["acme"], date="2025-02-10", amount=250)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["fiscal_period"], body["budgeted"], body["available"]) == (
        "FY2025-M02",
        1000,
        1000,
    )
    assert [m["fiscal_period"] for m in body["matches"]] == ["FY2025-M02", "FY2025-Q1", "FY2025"]
    assert body["fits"] and body["allowed"] and body["amount"] == 250
    assert (body["customer_id"], body["department"], body["sub_category"]) == (
        "acme",
        "Marketing",
        None,
    )
    assert check(client, acme["acme"], date="2025-03-31").json()["fiscal_period"] == "FY2025-Q1"
    assert check(client, acme["acme"], date="2025-12-31").json()["fiscal_period"] == "FY2025"
    far = check(client, acme["acme"], date="2025-03-31", amount=3000.01).json()
    assert (far["fits"], far["allowed"]) == (False, False)
    # a period label instead of a date
    token = acme["acme"]
    assert check(client, token, period="FY2025-Q1").json()["fiscal_period"] == "FY2025-Q1"
    assert check(client, token, period="Q1 2025").json()["fiscal_period"] == "FY2025-Q1"
    assert check(client, token, period="Feb 2025").json()["fiscal_period"] == "FY2025-M02"
    jan = check(client, token, period="Jan 2025").json()  # no January budget: its quarter
    assert jan["fiscal_period"] == "FY2025-Q1"
    assert [m["fiscal_period"] for m in jan["matches"]] == ["FY2025-Q1", "FY2025"]
    assert check(client, token, period="FY2025").json()["fiscal_period"] == "FY2025"
    bad = check(client, token, period="someday")
    assert bad.status_code == 422
    assert "period 'someday'" in bad.json()["detail"]
    both = check(client, token, period="FY2025", date="2025-01-01")
    assert both.status_code == 422 and "not both" in both.text


def test_check_follows_the_customers_fiscal_calendar(client, conn):
    """Fiscal year from July: FY2025 runs July 2024 to June 2025."""
    seed_customer(
        conn,
        "kiwi",
        fy_start=7,
        budgets=[
            ("Ops", None, "FY2025", "900.00"),
            ("Ops", None, "FY2025-Q2", "300.00"),  # October to December 2024
            ("Ops", None, "FY2025-M01", "100.00"),  # July 2024
        ],
    )
    token = tokens(conn, "kiwi")["kiwi"]

    def period(**kw):
        r = check(client, token, department="Ops", **kw)
        return r.json()["fiscal_period"] if r.status_code == 200 else r.status_code

    assert period(date="2024-07-15") == "FY2025-M01"
    assert period(date="2024-11-03") == "FY2025-Q2"
    assert period(date="2025-06-30") == "FY2025"
    assert period(date="2024-06-30") == 404  # FY2024
    assert period(date="2025-07-01") == 404  # FY2026
    assert period(period="Jul 2024") == "FY2025-M01"  # a calendar month, placed in the fiscal year
    assert period(period="Q2 2025") == "FY2025-Q2"  # quarter labels are fiscal
    assert period(period="Nov 2024") == "FY2025-Q2"
    assert period(period="FY25") == "FY2025"


def test_department_is_case_insensitive_and_sub_category_is_matched_too(client, acme):
    token = acme["acme"]
    for department in ("marketing", "  MARKETING "):
        body = check(client, token, department=department, date="2025-02-01").json()
        assert (body["department"], body["budgeted"]) == ("Marketing", 1000)
    events = check(client, token, sub_category="EVENTS", date="2025-02-01").json()
    assert (events["sub_category"], events["budgeted"]) == ("Events", 400)
    assert [m["fiscal_period"] for m in events["matches"]] == ["FY2025-M02"]
    travel = check(client, token, sub_category="Travel", date="2025-02-01")
    assert travel.status_code == 404
    assert travel.json()["detail"] == (
        "no active budget for customer 'acme', department 'Marketing', sub-category 'Travel', "
        "in FY2025-M02, FY2025-Q1, FY2025"
    )
    # no budget at all: a 404 that says what was looked for
    r = check(client, acme["acme"], department="Legal", date="2025-05-05")
    assert r.status_code == 404
    assert r.json()["detail"] == (
        "no active budget for customer 'acme', department 'Legal' (no sub-category), "
        "in FY2025-M05, FY2025-Q2, FY2025"
    )
    assert reserve(client, acme["acme"], department="Legal", date="2025-05-05").status_code == 404


def test_soft_deleted_budgets_are_not_matched(client, acme, conn):
    conn.execute("update budget set deleted_at = now() where fiscal_period = 'FY2025-M02'")
    body = check(client, acme["acme"], date="2025-02-10").json()
    assert body["fiscal_period"] == "FY2025-Q1"
    assert "FY2025-M02" not in [m["fiscal_period"] for m in body["matches"]]
    conn.execute("update budget set deleted_at = now() where customer_id = 'acme'")
    assert check(client, acme["acme"], date="2025-02-10").status_code == 404


# ---- freshness -----------------------------------------------------------------------------


def _sync(conn, customer, status, ago: timedelta):
    end = datetime.now(UTC) - ago
    conn.execute(
        "insert into sync_history (customer_id, status, start_time, end_time) "
        "values (%s, %s, %s, %s)",
        (customer, status, end - timedelta(seconds=5), end),
    )
    return end


def test_stale_and_last_synced_at(client, conn):
    budget = [("Ops", None, "FY2025", "10.00")]
    seed_customer(conn, "never", budgets=budget, synced=False)
    seed_customer(conn, "fresh", budgets=budget, frequency="hourly", synced=False)
    seed_customer(conn, "late", budgets=budget, frequency="daily", synced=False)
    seed_customer(conn, "manual", budgets=budget, frequency="manual", synced=False)
    t = tokens(conn, "never", "fresh", "late", "manual")
    fresh_at = _sync(conn, "fresh", "success", timedelta(minutes=90))  # < 2 hours
    _sync(conn, "fresh", "failed", timedelta(minutes=5))  # a failure is no sync
    late_at = _sync(conn, "late", "success", timedelta(hours=49))  # > 2 days
    manual_at = _sync(conn, "manual", "success", timedelta(days=40))

    def state(customer):
        body = check(client, t[customer], department="Ops", date="2025-01-01").json()
        at = body["last_synced_at"] and datetime.fromisoformat(body["last_synced_at"])
        return body["stale"], at, body["warnings"]

    stale, at, warnings = state("never")
    assert (stale, at) == (True, None)
    assert warnings == ["budget data is stale: the last successful sync was never"]
    assert state("fresh")[:2] == (False, fresh_at)
    stale, at, warnings = state("late")
    assert (stale, at) == (True, late_at)
    assert warnings[0].startswith("budget data is stale: the last successful sync was 20")
    assert state("manual")[:2] == (False, manual_at)


# ---- auth ----------------------------------------------------------------------------------


def test_tokens_are_required_and_scoped_to_their_customer(client, acme, conn):
    body = {"department": "Marketing", "amount": 1, "date": "2025-02-01"}
    none = client.post("/budget/check", json=body)
    assert none.status_code == 401 and none.headers["WWW-Authenticate"] == "Bearer"
    unknown = client.post("/budget/check", json=body, headers=bearer("fsk_" + "x" * 43))
    assert unknown.status_code == 401 and "unknown or revoked" in unknown.json()["detail"]
    assert (
        client.post("/budget/check", json=body, headers=bearer("eyJnot.a.jwt")).status_code == 401
    )
    conn.execute("update budget_api_token set revoked_at = now() where name = 'beta-app'")
    assert check(client, acme["beta"]).status_code == 401
    other = check(client, acme["acme"], customer_id="beta", date="2025-02-01")
    assert other.status_code == 403
    assert other.json()["detail"] == "this token may only act for its own customer"
    assert check(client, acme["acme"], customer_id="acme", date="2025-02-01").status_code == 200
    admin = check(client, acme["admin"], date="2025-02-01")
    assert admin.status_code == 422
    assert admin.json()["detail"] == "customer_id is required with an admin token"
    assert check(client, acme["admin"], customer_id="beta", date="2025-02-01").json()[
        "budgeted"
    ] == pytest.approx(50)
    # admin-only endpoints refuse customer tokens
    h = bearer(acme["acme"])
    calls = [
        client.get("/sync/config", headers=h),
        client.post(
            "/sync/config",
            headers=h,
            json={"customer_id": "acme", "source_type": "s3", "source_config": {}},
        ),
        client.patch("/sync/config/1", headers=h, json={"enabled": False}),
        client.get("/sync/health", headers=h),
        client.put(
            "/fx/rates",
            headers=h,
            json=[
                {
                    "from_currency": "EUR",
                    "to_currency": "USD",
                    "valid_from": "2025-01-01",
                    "rate": 1,
                }
            ],
        ),
        client.put("/budget/policy/acme", headers=h, json={"over_budget_policy": "block"}),
    ]
    for r in calls:
        assert (r.status_code, r.json()["detail"]) == (403, "this needs an admin token"), r.url


def test_a_customer_cannot_touch_another_customers_reservation(client, acme, conn):
    token = tokens(conn, "beta")["beta"]  # beta's first token was made by the fixture too
    theirs = reserve(client, token, amount=10, date="2025-01-01").json()["reservation_id"]
    for path in ("/budget/commit", "/budget/release"):
        r = post(client, path, acme["acme"], {"reservation_id": theirs})
        assert r.status_code == 404, r.text
        assert r.json()["detail"] == f"no reservation {theirs} for customer 'acme'"
        forbidden = post(
            client, path, acme["acme"], {"reservation_id": theirs, "customer_id": "beta"}
        )
        assert forbidden.status_code == 403
    assert fetch(conn, "select status from budget_reservation") == [{"status": "reserved"}]


# ---- reserve, commit, release --------------------------------------------------------------


def _budget_id(conn, period="FY2025-M02", sub=None, customer="acme"):
    return fetch(
        conn,
        "select budget_id from budget where customer_id = %s and fiscal_period = %s "
        "and sub_category is not distinct from %s",
        (customer, period, sub),
    )[0]["budget_id"]


def test_reserve_commit_release(client, acme, conn):
    token, budget = acme["acme"], _budget_id(conn)
    r = reserve(client, token, amount=300, date="2025-02-10", reference="PR-1")
    assert r.status_code == 201, r.text
    res = r.json()
    assert (res["status"], res["amount"], res["reference"], res["fiscal_period"]) == (
        "reserved",
        300,
        "PR-1",
        "FY2025-M02",
    )
    assert (res["budgeted"], res["reserved"], res["committed"], res["available"]) == (
        1000,
        300,
        0,
        700,
    )
    assert utilization(conn, budget) == (D(0), D(300))
    after = check(client, token, date="2025-02-10").json()
    assert (after["reserved"], after["available"]) == (300, 700)

    full = post(client, "/budget/commit", token, {"reservation_id": res["reservation_id"]})
    assert full.status_code == 200, full.text
    assert (full.json()["status"], full.json()["committed"], full.json()["reserved"]) == (
        "committed",
        300,
        0,
    )
    assert full.json()["warnings"] == []
    assert utilization(conn, budget) == (D(300), D(0))

    released = post(client, "/budget/release", token, {"reservation_id": res["reservation_id"]})
    assert released.status_code == 200, released.text
    assert (released.json()["status"], released.json()["available"]) == ("released", 1000)
    assert utilization(conn, budget) == (D(0), D(0))
    assert [(e["action"], e["reserved_delta"], e["committed_delta"]) for e in log(conn)] == [
        ("reserve", D(300), D(0)),
        ("commit", D(-300), D(300)),
        ("release", D(0), D(-300)),
    ]
    # a second commit or release is a conflict
    rid = reserve(client, token, date="2025-02-10").json()["reservation_id"]
    assert post(client, "/budget/commit", token, {"reservation_id": rid}).status_code == 200
    again = post(client, "/budget/commit", token, {"reservation_id": rid})
    assert (again.status_code, again.json()["detail"]) == (
        409,
        f"reservation {rid} is committed, only a reserved one can be committed",
    )
    assert post(client, "/budget/release", token, {"reservation_id": rid}).status_code == 200
    twice = post(client, "/budget/release", token, {"reservation_id": rid})
    assert (twice.status_code, twice.json()["detail"]) == (
        409,
        f"reservation {rid} is already released",
    )
    late = post(client, "/budget/commit", token, {"reservation_id": rid})
    assert late.status_code == 409
    assert utilization(conn, _budget_id(conn)) == (D(0), D(0))
    assert len(log(conn)) == 6


def test_partial_commit_releases_the_rest_and_a_reservation_can_be_released(client, acme, conn):
    token, budget = acme["acme"], _budget_id(conn)
    first = reserve(client, token, amount=300, date="2025-02-10").json()["reservation_id"]
    second = reserve(client, token, amount=50, date="2025-02-10").json()["reservation_id"]
    partial = post(client, "/budget/commit", token, {"reservation_id": first, "amount": 120.5})
    assert partial.status_code == 200, partial.text
    body = partial.json()
    assert (body["amount"], body["committed"], body["reserved"], body["available"]) == (
        120.5,
        120.5,
        50,
        829.5,
    )
    assert body["warnings"] == ["179.50 USD released"]
    too_much = post(client, "/budget/commit", token, {"reservation_id": second, "amount": 50.01})
    assert too_much.status_code == 422
    released = post(client, "/budget/release", token, {"reservation_id": second})
    assert (released.json()["status"], released.json()["reserved"]) == ("released", 0)
    assert utilization(conn, budget) == (D("120.50"), D(0))
    rows = fetch(conn, "select reservation_id, status, amount from budget_reservation order by 1")
    assert [(r["status"], r["amount"]) for r in rows] == [
        ("committed", D("120.50")),
        ("released", D("50.00")),
    ]


def test_direct_commit_against_a_budget(client, acme, conn):
    target = {"department": "Marketing", "sub_category": "Events", "date": "2025-02-03"}
    r = post(client, "/budget/commit", acme["acme"], {"target": {**target, "amount": 399}})
    assert r.status_code == 201, r.text
    assert (r.json()["status"], r.json()["committed"], r.json()["available"]) == (
        "committed",
        399,
        1,
    )
    over = post(client, "/budget/commit", acme["acme"], {"target": {**target, "amount": 2}})
    assert over.status_code == 409
    assert utilization(conn, _budget_id(conn, sub="Events")) == (D(399), D(0))


def test_over_budget_is_refused_under_the_block_policy(client, acme, conn):
    token, budget = acme["acme"], _budget_id(conn)
    first = reserve(client, token, amount=1000.01, date="2025-02-10")
    assert first.status_code == 409
    assert utilization(conn, budget) is None  # a refusal leaves nothing behind
    assert reserve(client, token, amount=900, date="2025-02-10").status_code == 201
    r = reserve(client, token, amount=100.01, date="2025-02-10")
    assert r.status_code == 409
    assert r.json()["detail"] == {
        "message": "over budget: 100.01 requested, 100.00 available; the customer's policy "
        "blocks over-budget requests; nothing was booked",
        "available": 100.0,
        "requested": 100.01,
    }
    assert utilization(conn, budget) == (D(0), D(900))
    assert fetch(conn, "select count(*) as n from budget_reservation")[0]["n"] == 1
    assert len(log(conn)) == 1
    assert reserve(client, token, amount=100, date="2025-02-10").status_code == 201  # exactly all


def test_tolerance_policy_allows_a_little_over_with_a_warning(client, acme, conn):
    admin = bearer(acme["admin"])
    put = client.put(
        "/budget/policy/acme",
        headers=admin,
        json={"over_budget_policy": "tolerance", "tolerance_pct": 10},
    )
    assert put.json() == {
        "customer_id": "acme",
        "over_budget_policy": "tolerance",
        "tolerance_pct": 10,
    }
    token = acme["acme"]
    looked = check(client, token, amount=1050, date="2025-02-10").json()
    assert (looked["fits"], looked["allowed"], looked["tolerance_pct"]) == (False, True, 10)
    assert looked["warnings"] == ["over budget by 50.00 (within the customer's 10.00% tolerance)"]
    r = reserve(client, token, amount=1050, date="2025-02-10")
    assert r.status_code == 201, r.text
    assert r.json()["available"] == -50
    assert r.json()["warnings"] == ["over budget by 50.00 (within the customer's 10.00% tolerance)"]
    beyond = reserve(client, token, amount=50.01, date="2025-02-10")
    assert beyond.status_code == 409
    assert "allows up to 10.00% over budget" in beyond.json()["detail"]["message"]
    assert reserve(client, token, amount=50, date="2025-02-10").status_code == 201  # to the cent
    assert utilization(conn, _budget_id(conn)) == (D(0), D(1100))


def test_tolerance_allowance_is_the_same_cent_for_check_and_reserve(client, acme, conn):
    """5.5 % of 10.10 is 0.5555, which rounds to 0.56: what the check allows, a reservation gets
    (the booking once compared against the unrounded 0.5555 and refused 0.56 over)."""
    conn.execute("update budget set budgeted_amount = 10.10 where fiscal_period = 'FY2025-M02'")
    conn.execute("insert into budget_customer_policy values ('acme', 'tolerance', 5.5)")
    token = acme["acme"]
    assert check(client, token, amount=10.66, date="2025-02-10").json()["allowed"] is True
    assert check(client, token, amount=10.67, date="2025-02-10").json()["allowed"] is False
    assert reserve(client, token, amount=10.67, date="2025-02-10").status_code == 409
    r = reserve(client, token, amount=10.66, date="2025-02-10")
    assert r.status_code == 201, r.text
    assert r.json()["available"] == -0.56


# ---- FX ------------------------------------------------------------------------------------


def test_amounts_are_converted_with_the_latest_rate_on_or_before_the_date(client, acme, conn):
    conn.execute(
        "insert into budget (customer_id, department, fiscal_period, budgeted_amount, currency) "
        "values ('acme', 'R&D', 'FY2025', 1000, 'EUR')"
    )
    admin = bearer(acme["admin"])
    rates = [
        {"from_currency": "USD", "to_currency": "EUR", "valid_from": "2025-01-01", "rate": 0.9},
        {"from_currency": "USD", "to_currency": "EUR", "valid_from": "2025-03-01", "rate": 0.8},
        {"from_currency": "EUR", "to_currency": "GBP", "valid_from": "2024-12-01", "rate": 0.85},
    ]
    assert client.put("/fx/rates", headers=admin, json=rates).json() == {"rates": 3}
    token = acme["acme"]
    feb = check(client, token, department="R&D", amount=100, currency="USD", date="2025-02-28")
    assert (feb.json()["amount"], feb.json()["fx_rate"], feb.json()["currency"]) == (90, 0.9, "EUR")
    march = check(client, token, department="R&D", amount=100, currency="USD", date="2025-03-01")
    assert march.json()["fx_rate"] == 0.8
    r = reserve(client, token, department="R&D", amount=100, currency="GBP", date="2025-02-01")
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["amount"], body["request_amount"], body["request_currency"]) == (
        117.65,
        100,
        "GBP",
    )
    assert body["fx_rate"] == 1.1764705882  # the rate as recorded (10 decimals), and as used
    stored = fetch(
        conn, "select amount, request_amount, request_currency, fx_rate from budget_reservation"
    )
    assert stored == [
        {
            "amount": D("117.65"),
            "request_amount": D("100.00"),
            "request_currency": "GBP",
            "fx_rate": D("1.1764705882"),
        }
    ]
    # a partial commit in the request's currency uses the recorded rate
    part = post(
        client, "/budget/commit", token, {"reservation_id": body["reservation_id"], "amount": 50}
    )
    assert part.json()["amount"] == 58.82
    # Committing all of a large reservation, in its own currency, commits all of it: the
    # booking used the recorded rate (the unrounded 1/0.85 once held 10.59 EUR more here).
    conn.execute("update budget set budgeted_amount = 1e15 where department = 'R&D'")
    big = {"department": "R&D", "currency": "GBP", "date": "2025-02-01"}
    whole = reserve(client, token, amount=300_000_000_000, **big).json()
    assert whole["amount"] == 352_941_176_460.00
    done = post(
        client,
        "/budget/commit",
        token,
        {"reservation_id": whole["reservation_id"], "amount": 300_000_000_000},
    )
    assert done.status_code == 200, done.text
    assert (done.json()["amount"], done.json()["warnings"]) == (352_941_176_460.00, [])
    # amounts or rates beyond what the ledger columns hold are refused, not a 500
    extreme = [
        {"from_currency": "XAU", "to_currency": "EUR", "valid_from": "2025-01-01", "rate": 1e9},
        {"from_currency": "EUR", "to_currency": "XTS", "valid_from": "2025-01-01", "rate": 1e-10},
    ]
    assert client.put("/fx/rates", headers=admin, json=extreme).status_code == 200
    huge = reserve(client, token, amount=10_000_000, **{**big, "currency": "XAU"})
    assert huge.status_code == 422 and "too large to book" in huge.json()["detail"]
    tiny = reserve(client, token, amount=1, **{**big, "currency": "XTS"})
    assert tiny.status_code == 422 and "outside what a reservation can record" in tiny.text
    # no rate
    r = check(client, acme["acme"], amount=5, currency="JPY", date="2025-02-01")
    assert r.status_code == 422
    assert r.json()["detail"] == (
        "no FX rate from JPY to USD on or before 2025-02-01: load one with PUT /fx/rates or "
        "`finsync fx set`"
    )
    assert reserve(client, acme["acme"], currency="JPY", date="2025-02-01").status_code == 422


def test_fx_rates_are_listed_and_replaced(client, acme):
    admin = bearer(acme["admin"])
    rate = {"from_currency": "EUR", "to_currency": "USD", "valid_from": "2025-01-01", "rate": 1.1}
    assert client.put("/fx/rates", headers=admin, json=[rate]).status_code == 200
    assert client.put("/fx/rates", headers=admin, json=[{**rate, "rate": "1.0850"}]).json() == {
        "rates": 1
    }
    listed = client.get("/fx/rates", headers=bearer(acme["acme"])).json()  # any token may read
    assert listed == [{**rate, "rate": 1.085}]
    same = client.put("/fx/rates", headers=admin, json=[{**rate, "to_currency": "EUR"}])
    assert (same.status_code, same.json()["detail"]) == (
        422,
        "a rate from a currency to itself is always 1: EUR",
    )
    assert client.put("/fx/rates", headers=admin, json=[{**rate, "rate": 0}]).status_code == 422
    assert client.put("/fx/rates", headers=admin, json=[]).status_code == 422


# ---- idempotency ---------------------------------------------------------------------------


def _bookings(conn):
    return [
        fetch(conn, f"select count(*) as n from {t}")[0]["n"]  # noqa: S608 - constant names
        for t in ("budget_reservation", "budget_utilization_log")
    ]


def test_a_retry_with_the_same_key_replays_the_first_outcome(client, acme, conn):
    token = acme["acme"]
    first = reserve(client, token, key="req-1", amount=250, date="2025-02-10")
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    again = reserve(client, token, key="req-1", amount=250, date="2025-02-10")
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert _bookings(conn) == [1, 1]
    assert utilization(conn, _budget_id(conn)) == (D(0), D(250))
    assert log(conn)[0]["idempotency_key"] == "req-1"
    rid = first.json()["reservation_id"]
    commit = post(client, "/budget/commit", token, {"reservation_id": rid}, key="c-1")
    replay = post(client, "/budget/commit", token, {"reservation_id": rid}, key="c-1")
    assert replay.status_code == 200 and replay.json() == commit.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert utilization(conn, _budget_id(conn)) == (D(250), D(0))
    assert _bookings(conn) == [1, 2]


def test_the_same_key_for_a_different_request_is_refused(client, acme, conn):
    token = acme["acme"]
    assert reserve(client, token, key="req-2", amount=10, date="2025-02-10").status_code == 201
    other = reserve(client, token, key="req-2", amount=11, date="2025-02-10")
    assert other.status_code == 422
    assert other.json()["detail"] == (
        "Idempotency-Key 'req-2' was already used for a different request (reserve); "
        "use a new key for a new request"
    )
    release = post(client, "/budget/release", token, {"reservation_id": 1}, key="req-2")
    assert release.status_code == 422
    assert _bookings(conn) == [1, 1]
    # keys belong to a customer: beta may use the same one
    assert (
        reserve(client, acme["beta"], key="req-2", amount=10, date="2025-02-10").status_code == 201
    )
    # the key header is required
    body = {"department": "Marketing", "amount": 1}
    r = client.post("/budget/reserve", json=body, headers=bearer(acme["acme"]))
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]


def test_a_refusal_is_replayed_too(client, acme, conn):
    token = acme["acme"]
    refused = reserve(client, token, key="big", amount=5000, date="2025-02-10")
    assert refused.status_code == 409
    conn.execute("update budget set budgeted_amount = 10000 where fiscal_period = 'FY2025-M02'")
    replay = reserve(client, token, key="big", amount=5000, date="2025-02-10")
    assert replay.status_code == 409 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == refused.json()
    assert _bookings(conn) == [0, 0]
    assert reserve(client, token, key="big-2", amount=5000, date="2025-02-10").status_code == 201


# ---- sync configs --------------------------------------------------------------------------


def test_configs_are_created_changed_and_listed(client, acme):
    admin = bearer(acme["admin"])
    new = {
        "customer_id": "globex",
        "source_type": "sftp",
        "frequency": "every_4_hours",
        "source_config": {"conn_id": "globex_sftp", "path": "/out", "glob": "*.xlsx"},
        "fiscal_year_start_month": 7,
        "default_currency": "AUD",
    }
    r = client.post("/sync/config", headers=admin, json=new)
    assert r.status_code == 201, r.text
    created = r.json()
    assert {k: created[k] for k in new} == new
    assert (created["enabled"], created["max_soft_delete_pct"]) == (True, "20.00")
    dup = client.post("/sync/config", headers=admin, json=new)
    assert dup.status_code == 409 and "already has a sftp source" in dup.json()["detail"]

    patched = client.patch(
        f"/sync/config/{created['config_id']}",
        headers=admin,
        json={"frequency": "manual", "enabled": False, "column_mapping": {"department": "CC"}},
    ).json()
    assert (patched["frequency"], patched["enabled"], patched["column_mapping_version"]) == (
        "manual",
        False,
        1,
    )
    assert client.patch("/sync/config/999", headers=admin, json={}).status_code == 404
    listed = client.get("/sync/config", headers=admin, params={"customer_id": "globex"}).json()
    assert [c["config_id"] for c in listed] == [created["config_id"]]
    everyone = client.get("/sync/config", headers=admin).json()
    assert sorted({c["customer_id"] for c in everyone}) == ["acme", "beta", "globex"]


def test_credentials_in_a_config_are_refused_and_never_echoed(client, acme, conn):
    admin = bearer(acme["admin"])
    secret = "hunter2-Xq9-not-for-logs"
    base = {"customer_id": "globex", "source_type": "sftp"}
    attempts = [
        {**base, "source_config": {"conn_id": "c", "path": "/", "password": secret}},
        {**base, "source_config": {"conn_id": "c", "path": "/", "auth": {"private_key": secret}}},
        {**base, "source_config": {"conn_id": "c", "path": "/"}, "password": secret},
        {**base, "source_config": f"password={secret}"},
    ]
    for body in attempts:
        r = client.post("/sync/config", headers=admin, json=body)
        assert r.status_code == 422, r.text
        assert secret not in r.text
    first = client.post("/sync/config", headers=admin, json=attempts[0]).json()["detail"]
    assert "must not hold credentials (found: password)" in first
    config_id = fetch(conn, "select config_id from budget_data_source_config limit 1")[0][
        "config_id"
    ]
    r = client.patch(
        f"/sync/config/{config_id}",
        headers=admin,
        json={"source_config": {"path": "/tmp", "aws_secret_access_key": secret}},
    )
    assert r.status_code == 422 and secret not in r.text
    assert secret not in str(fetch(conn, "select source_config from budget_data_source_config"))


def test_config_values_are_validated(client, acme):
    admin = bearer(acme["admin"])
    ok = {"customer_id": "globex", "source_type": "local", "source_config": {"path": "/in"}}
    for bad in (
        {"frequency": "weekly"},
        {"fiscal_year_start_month": 13},
        {"default_currency": "usd"},
        {"max_soft_delete_pct": 100.5},
        {"error_tolerance_pct": 0.001},
        {"settle_seconds": True},
        {"customer_id": "no spaces"},
        {"source_type": "ftp"},
        {"source_config": {"glob": "*.csv"}},  # no path
        {"source_config": {"path": "/in", "note": "a\x00b"}},
    ):
        r = client.post("/sync/config", headers=admin, json={**ok, **bad})
        assert r.status_code == 422, (bad, r.text)
    weekly = client.post("/sync/config", headers=admin, json={**ok, "frequency": "weekly"})
    assert weekly.json()["detail"][0]["loc"] == ["body", "frequency"]
    assert "input" not in weekly.json()["detail"][0]  # values sent are never echoed
    assert client.post("/sync/config", headers=admin, json=ok).status_code == 201


# ---- policy, history, totals ---------------------------------------------------------------


def test_policy_defaults_to_block_and_is_per_customer(client, acme):
    admin, token = bearer(acme["admin"]), bearer(acme["acme"])
    assert client.get("/budget/policy", headers=token).json() == {
        "customer_id": "acme",
        "over_budget_policy": "block",
        "tolerance_pct": 0,
    }
    client.put(
        "/budget/policy/acme",
        headers=admin,
        json={"over_budget_policy": "tolerance", "tolerance_pct": "7.5"},
    )
    assert client.get("/budget/policy", headers=token).json()["tolerance_pct"] == 7.5
    blocked = client.put(
        "/budget/policy/acme",
        headers=admin,
        json={"over_budget_policy": "block", "tolerance_pct": 5},
    )
    assert blocked.json()["tolerance_pct"] == 0  # block has no tolerance
    assert (
        client.get("/budget/policy", headers=admin, params={"customer_id": "beta"}).json()[
            "over_budget_policy"
        ]
        == "block"
    )
    assert (
        client.get("/budget/policy", headers=token, params={"customer_id": "beta"}).status_code
        == 403
    )
    bad = client.put("/budget/policy/acme", headers=admin, json={"over_budget_policy": "maybe"})
    assert bad.status_code == 422


def test_sync_history_is_scoped_to_the_customer(client, acme, conn):
    _sync(conn, "acme", "failed", timedelta(minutes=1))
    acme_token, admin = bearer(acme["acme"]), bearer(acme["admin"])
    mine = client.get("/sync/history", headers=acme_token).json()
    assert {h["customer_id"] for h in mine} == {"acme"} and len(mine) == 2
    assert [h["sync_id"] for h in mine] == sorted((h["sync_id"] for h in mine), reverse=True)
    assert (
        client.get("/sync/history", headers=acme_token, params={"customer_id": "beta"}).status_code
        == 403
    )
    everyone = client.get("/sync/history", headers=admin).json()
    assert {h["customer_id"] for h in everyone} == {"acme", "beta"}
    failed = client.get("/sync/history", headers=admin, params={"status": "failed"}).json()
    assert [h["status"] for h in failed] == ["failed"]
    beta = client.get("/sync/history", headers=admin, params={"customer_id": "beta"}).json()
    assert [h["customer_id"] for h in beta] == ["beta"]
    assert (
        client.get("/sync/history", headers=admin, params={"customer": "beta"}).status_code == 422
    )


def _frame(*items):
    return pd.DataFrame.from_records(
        [
            dict(
                department=d,
                sub_category=None,
                fiscal_period=p,
                budgeted_amount=a,
                currency="USD",
                source_row=n,
            )
            for n, (d, p, a) in enumerate(items, start=2)
        ]
    )


def test_sync_totals_follow_each_sync(client, conn):
    token = tokens(conn, "zeta")["zeta"]

    def run(frame, status="success"):
        sync_id = conn.execute(
            "insert into sync_history (customer_id, status, end_time) values ('zeta', %s, now()) "
            "returning sync_id",
            (status,),
        ).fetchone()[0]
        import_budgets(
            conn,
            customer_id="zeta",
            sync_id=sync_id,
            rows=frame,
            source="f.csv",
            max_soft_delete_pct=100,
        )
        return sync_id

    a = ("Ops", "FY2025", "1000.00")
    b = ("IT", "FY2025", "200.00")
    first = run(_frame(a, b))  # creates 1200
    second = run(_frame(("Ops", "FY2025", "1500.00")))  # +500, IT deleted -200
    third = run(_frame(("Ops", "FY2025", "1500.00"), ("IT", "FY2025", "250.00")))  # IT back: +250
    totals = client.get("/sync/totals", headers=bearer(token)).json()
    assert [(t["sync_id"], t["change"], t["total_after"]) for t in totals] == [
        (first, 1200.0, 1200.0),
        (second, 300.0, 1500.0),
        (third, 250.0, 1750.0),
    ]
    assert totals[-1]["total_after"] == float(
        fetch(conn, "select sum(budgeted_amount) as s from budget where deleted_at is null")[0]["s"]
    )
    assert (
        client.get("/sync/totals", headers=bearer(token), params={"limit": 1}).json()[0]["sync_id"]
        == third
    )


# ---- files ---------------------------------------------------------------------------------

BUDGET_CSV = """Cost Centre,Account,Period,Budget Amount,Currency
Marketing,Events,Jan 2025,"1,000.00",USD
Marketing,Events,Feb 2025,"1,000.00",USD
IT,Cloud,Jan 2025,250.50,USD
IT,Cloud,Feb 2025,250.50,USD
Sales,Travel,Jan 2025,800,USD
"""


def test_analyze_a_real_csv_and_refuse_junk(client, acme):
    token = bearer(acme["acme"])
    r = client.post(
        "/files/analyze", headers=token, files={"file": ("budget.csv", BUDGET_CSV, "text/csv")}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["file_type"], body["layout"], body["rows"], body["header_row"]) == (
        "budget",
        "long",
        5,
        1,
    )
    assert body["mapping"]["department"]["column"] == "Cost Centre"
    assert body["mapping"]["budgeted_amount"]["column"] == "Budget Amount"
    junk = client.post(
        "/files/analyze",
        headers=token,
        files={"file": ("junk.bin", bytes(range(256)) * 8, "application/octet-stream")},
    )
    assert junk.status_code == 422
    assert junk.json()["detail"] == (
        "junk.bin: this is not a text table (binary content: NUL bytes); export the budget as "
        "CSV, XLSX or XLS"
    )
    empty = client.post("/files/analyze", headers=token, files={"file": ("e.csv", b"", "text/csv")})
    assert empty.status_code == 422 and "the file is empty" in empty.json()["detail"]


def test_import_keeps_the_upload_in_shared_storage_and_starts_a_dag_run(
    client, acme, conn, tmp_path, budget_sync_dag, monkeypatch
):
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    from finsync import storage

    monkeypatch.setenv(storage.URL_ENV, (tmp_path / "shared").as_uri())
    token = bearer(acme["acme"])
    missing = client.post(
        "/files/import", headers=token, files={"file": ("b.csv", BUDGET_CSV, "text/csv")}
    )
    assert missing.status_code == 404 and "no enabled upload source" in missing.json()["detail"]
    conn.execute(
        "insert into budget_data_source_config (customer_id, source_type, source_config) "
        "values ('acme', 'upload', '{}')"
    )
    r = client.post(
        "/files/import",
        headers=token,
        files={"file": ("../FY25 budget.csv", BUDGET_CSV, "text/csv")},
    )
    assert r.status_code == 202, r.text
    body = r.json()
    saved = storage.listing("uploads", "acme")
    assert [s.name for s in saved] == [body["file_name"]]
    assert body["file_name"].endswith("_FY25_budget.csv")
    assert storage.read_bytes(saved[0].key).decode() == BUDGET_CSV
    assert body["customer_id"] == "acme" and body["dag_run_id"].startswith("api__acme__")
    with create_session() as session:
        run = session.query(DagRun).filter_by(dag_id="budget_sync", run_id=body["dag_run_id"]).one()
        assert run.conf == {"customer_id": "acme", "force": False}
        assert str(run.state) == body["state"] == "queued"
    trigger = client.post("/sync/trigger", headers=token, json={"force": True})
    assert trigger.status_code == 202, trigger.text
    with create_session() as session:
        run = session.query(DagRun).filter_by(run_id=trigger.json()["dag_run_id"]).one()
        assert run.conf == {"customer_id": "acme", "force": True}
    nothing = client.post(
        "/sync/trigger", headers=bearer(acme["admin"]), json={"customer_id": "nobody"}
    )
    assert nothing.status_code == 404


# ---- HTTP details --------------------------------------------------------------------------


def test_405_lists_every_method_and_amounts_are_exact_decimals(client, acme):
    r = client.delete("/fx/rates", headers=bearer(acme["admin"]))
    assert r.status_code == 405
    assert r.headers["Allow"] == "GET, PUT"  # not just the first route's GET
    # amounts are exact decimals
    token = acme["acme"]
    assert check(client, token, amount="12.50", date="2025-02-01").json()["amount"] == 12.5
    for bad in (0.001, "1e3", "12.345", -1, True, "1_000"):
        r = check(client, token, amount=bad, date="2025-02-01")
        assert r.status_code == 422, bad
    assert reserve(client, token, amount=0, date="2025-02-01").status_code == 422
    assert check(client, token, amount=0, date="2025-02-01").status_code == 200
    nul = check(client, token, department="Mar\x00keting", date="2025-02-01")
    assert nul.status_code == 422
