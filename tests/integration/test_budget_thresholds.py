"""Threshold alerts: the budget service's bookings record one crossing per budget and threshold
(reset when utilisation falls back below), in the booking's own transaction; DAG
budget_webhooks' step turns each crossing into one signed webhook event per endpoint (checked
by `standardwebhooks` at a TLS receiver on loopback) and one notification per channel (a
Slack-webhook notifier posting to a real HTTP server on loopback)."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal as D

import pytest
from fastapi.testclient import TestClient

from finsync.api.main import app
from finsync.budget import config as configs
from finsync.budget import webhooks
from tests.conftest import fetch
from tests.integration.api_helpers import bearer, seed_customer, tokens
from tests.integration.webhook_receiver import serve

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def receiver(tmp_path_factory):
    found, stop = serve(tmp_path_factory.mktemp("receiver"))
    yield found
    stop()


@pytest.fixture
def client(warehouse):
    with TestClient(app) as c:
        yield c


@pytest.fixture
def acme(conn):
    seed_customer(conn, "acme", budgets=[("Marketing", None, "FY2025-M02", "1000.00")])
    seed_customer(conn, "beta", budgets=[("Marketing", None, "FY2025", "50.00")])
    return tokens(conn, "acme", "beta")


def post(client, token, path, body):
    headers = {**bearer(token), "Idempotency-Key": uuid.uuid4().hex}
    response = client.post(path, json=body, headers=headers)
    assert response.status_code in (200, 201), response.text
    return response.json()


def book(client, token, path, **target):
    """Reserve, or commit directly, against acme's (or beta's) Marketing budget."""
    target = {"department": "Marketing", "period": "FY2025-M02", **target}
    return post(client, token, path, target if path == "/budget/reserve" else {"target": target})


def crossings(conn, customer_id="acme"):
    return [
        (float(r["threshold_pct"]), float(r["utilization_pct"]), r["reset_at"] is not None)
        for r in fetch(
            conn,
            "select threshold_pct, utilization_pct, reset_at from budget_threshold_crossing "
            "where customer_id = %s order by crossing_id",
            (customer_id,),
        )
    ]


def test_one_crossing_per_threshold_reset_when_utilisation_falls_back(client, acme, conn):
    token = acme["acme"]
    book(client, token, "/budget/reserve", amount=500)  # 50 %
    assert crossings(conn) == []
    held = book(client, token, "/budget/reserve", amount=300)  # 80 %: crossed
    assert crossings(conn) == [(80.0, 80.0, False)]
    book(client, token, "/budget/reserve", amount=50)  # 85 %: still the same crossing
    # a check never records anything, whatever it asks
    assert (
        client.post(
            "/budget/check",
            json={"department": "Marketing", "period": "FY2025-M02", "amount": 5000},
            headers=bearer(token),
        ).json()["fits"]
        is False
    )
    assert crossings(conn) == [(80.0, 80.0, False)]
    post(client, token, "/budget/release", {"reservation_id": held["reservation_id"]})
    assert crossings(conn) == [(80.0, 80.0, True)]  # 55 %: below again, the crossing closed
    book(client, token, "/budget/reserve", amount=300)  # 85 %: a new crossing
    book(client, token, "/budget/commit", amount=150)  # committed directly: 100 %
    assert crossings(conn) == [(80.0, 80.0, True), (80.0, 85.0, False), (100.0, 100.0, False)]


def test_thresholds_are_the_customers_own(client, acme, conn):
    (config_id,) = [c.config_id for c in configs.load(conn, customer_id="beta")]
    configs.update(conn, config_id, {"alert_thresholds_pct": [50]}, changed_by="test")
    book(client, acme["beta"], "/budget/reserve", period="FY2025", amount=20)  # 40 %
    assert crossings(conn, "beta") == []
    book(client, acme["beta"], "/budget/reserve", period="FY2025", amount=10)  # 60 %
    assert crossings(conn, "beta") == [(50.0, 60.0, False)]
    configs.update(conn, config_id, {"alert_thresholds_pct": []}, changed_by="test")  # off
    book(client, acme["beta"], "/budget/reserve", period="FY2025", amount=20)  # 100 %
    assert crossings(conn, "beta") == [(50.0, 60.0, False)]


def test_concurrent_bookings_past_a_threshold_record_it_once(client, acme, conn):
    book(client, acme["acme"], "/budget/reserve", amount=700)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: book(client, acme["acme"], "/budget/reserve", amount=30), range(8)))
    # the row lock orders them: the booking that reached 820 (82 %) crossed 80 %, nobody else
    assert crossings(conn) == [(80.0, 82.0, False)]
    used = fetch(conn, "select reserved_amount from budget_utilization")[0]["reserved_amount"]
    assert used == D("940.00")


def test_each_crossing_is_announced_once_by_webhook_and_notifier(
    client, acme, conn, receiver, slack, monkeypatch
):
    from airflow.sdk import BaseHook  # noqa: F401 - loaded in the DAG's task already

    monkeypatch.setenv("SSL_CERT_FILE", str(receiver.ca))
    secret = receiver.endpoint("/alerts", ["200"])
    monkeypatch.setenv(
        "AIRFLOW_CONN_ACME_ALERTS", json.dumps({"conn_type": "generic", "password": secret})
    )
    (config_id,) = [c.config_id for c in configs.load(conn, customer_id="acme")]
    configs.update(
        conn,
        config_id,
        {
            "webhooks": [
                {
                    "url": receiver.url("/alerts"),
                    "conn_id": "acme_alerts",
                    "events": ["budget.threshold_crossed"],
                }
            ],
            "notify": {"slack_webhook": {"conn_id": "slack_fpa"}},
        },
        changed_by="test",
    )
    for amount in (850, 100, 50):  # 85 % (crosses 80), 95 %, 100 % (crosses 100)
        book(client, acme["acme"], "/budget/reserve", amount=amount)
    assert receiver.at("/alerts") == [] and slack == []  # nothing sent from the requests

    assert webhooks.announce_crossings_task({}) == {
        "crossings": 2,
        "events": 2,
        "notifications": 2,
    }
    assert webhooks.deliver_due_task({})["delivered"] == 2
    got = receiver.at("/alerts")
    assert all(r.verified for r in got)
    alerts = sorted((r.payload["data"] for r in got), key=lambda d: d["threshold_pct"])
    assert [(a["threshold_pct"], a["utilization_pct"]) for a in alerts] == [(80, 85), (100, 100)]
    assert {r.payload["type"] for r in got} == {"budget.threshold_crossed"}
    first = alerts[0]
    assert (first["department"], first["fiscal_period"], first["currency"]) == (
        "Marketing",
        "FY2025-M02",
        "USD",
    )
    assert (first["budgeted"], first["reserved"], first["available"]) == (1000, 850, 150)
    texts = sorted(m["text"] for m in slack)
    assert "crossed the 100 % threshold" in texts[0] and "crossed the 80 % threshold" in texts[1]
    assert "Marketing, FY2025-M02, of acme is 85 % used" in texts[1]

    # Nothing new: nothing announced or sent again.
    assert webhooks.announce_crossings_task({})["crossings"] == 0
    assert webhooks.deliver_due_task({})["tried"] == 0
    assert len(receiver.at("/alerts")) == 2 and len(slack) == 2


def test_webhooks_and_thresholds_through_the_config_api_and_the_deliveries_listed(
    client, acme, conn
):
    admin = bearer(acme["admin"])
    (config_id,) = [c.config_id for c in configs.load(conn, customer_id="acme")]
    endpoint = {"url": "https://erp.example.com/hooks/finsync?k=1", "conn_id": "acme_webhook"}
    changed = client.patch(
        f"/sync/config/{config_id}",
        json={"webhooks": [endpoint], "alert_thresholds_pct": [100, 75]},
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["webhooks"] == [endpoint]
    assert changed.json()["alert_thresholds_pct"] == [75, 100]
    for bad in (
        {"webhooks": [{"url": "http://erp.example.com/h", "conn_id": "c"}]},
        {"webhooks": [{**endpoint, "secret": "whsec_abc"}]},
        {"webhooks": [{**endpoint, "events": ["sync.maybe"]}]},
        {"alert_thresholds_pct": [0]},
        {"alert_thresholds_pct": [80, 80]},
    ):
        refused = client.patch(f"/sync/config/{config_id}", json=bad, headers=admin)
        assert refused.status_code == 422, bad
        assert "whsec_abc" not in refused.text

    # The endpoint, without its query string, and its last try; customers see only their own.
    conn.execute(
        "insert into webhook_event (event_id, customer_id, config_id, event_type, subject, "
        "endpoint_url, conn_id, payload, attempts, status) values ('msg_x', 'acme', %s, "
        "'sync.failed', 'sync:1', %s, 'acme_webhook', '{}', 1, 'pending')",
        (config_id, endpoint["url"]),
    )
    conn.execute(
        "insert into webhook_delivery (event_id, attempt, sent_by, duration_ms, status_code, "
        "is_success, error) values ('msg_x', 1, 'sync', 12, 500, false, 'HTTP 500')"
    )
    listed = client.get("/sync/webhooks?customer_id=acme", headers=bearer(acme["acme"]))
    assert listed.status_code == 200
    (row,) = listed.json()
    assert row["endpoint"] == "https://erp.example.com/hooks/finsync" and "url" not in row
    assert (row["last_event_type"], row["last_status_code"], row["last_error"]) == (
        "sync.failed",
        500,
        "HTTP 500",
    )
    assert (row["pending"], row["given_up"]) == (1, 0)
    other = client.get("/sync/webhooks?customer_id=acme", headers=bearer(acme["beta"]))
    assert other.status_code == 403
    assert client.get("/sync/webhooks", headers=bearer(acme["beta"])).json() == []
