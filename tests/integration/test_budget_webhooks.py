"""Webhooks after sync attempts (budget/webhooks.py), delivered over TLS to a receiver on
loopback that verifies each signature with the `standardwebhooks` package: failed and hanging
first tries never hold a sync up, every try is recorded, retries deliver later, announcing
twice sends nothing twice."""

import json
import time
from datetime import timedelta

import pytest

from finsync.budget import config as configs
from finsync.budget import webhooks
from tests.conftest import fetch
from tests.integration.webhook_receiver import serve

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def receiver(tmp_path_factory):
    from airflow.sdk import BaseHook  # noqa: F401 - loaded in a sync task already: not timed here

    found, stop = serve(tmp_path_factory.mktemp("receiver"))
    yield found
    stop()


@pytest.fixture
def trusted(receiver, monkeypatch):
    """The receiver's certificate trusted the way an operator trusts a private CA."""
    monkeypatch.setenv("SSL_CERT_FILE", str(receiver.ca))
    monkeypatch.setenv("AIRFLOW_VAR_FINSYNC_SERVICE_URL", "https://finsync.example.com/finsync")
    return receiver


def _connection(monkeypatch, conn_id: str, secret: str) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}",
        json.dumps({"conn_type": "generic", "password": secret}),
    )


def _customer(conn, customer_id: str, endpoints: list[dict]) -> int:
    config_id = configs.add(
        conn,
        customer_id=customer_id,
        source_type="local",
        source_config={"path": "/nowhere"},
    )
    configs.update(conn, config_id, {"webhooks": endpoints}, changed_by="test")
    return config_id


def _attempt(conn, config_id: int, customer_id: str, status: str, run_id: str) -> int:
    conn.execute(
        "insert into budget (customer_id, department, sub_category, fiscal_period, "
        "budgeted_amount, currency) values (%s, 'Marketing', 'Events', 'FY2026-M01', 1000, 'AUD'),"
        " (%s, 'IT', null, 'FY2026-M01', 250.5, 'AUD'), (%s, 'IT', null, 'FY2026-Q1', 800, 'AUD') "
        "on conflict do nothing",
        (customer_id, customer_id, customer_id),
    )
    return conn.execute(
        "insert into sync_history (customer_id, config_id, status, triggered_by, airflow_run_id, "
        "end_time, duration_ms, file_name, total_rows, created_count, updated_count, "
        "unchanged_count, soft_deleted_count, restored_count, error_count, message) "
        "values (%s, %s, %s, 'schedule', %s, now(), 812, 'export.csv', 3, 3, 0, 0, 0, 0, 0, "
        "'export.csv: 3 created') returning sync_id",
        (customer_id, config_id, status, run_id),
    ).fetchone()[0]


def _make_due(conn) -> None:
    conn.execute("update webhook_event set next_attempt_at = now() where status = 'pending'")


def test_failing_and_hanging_endpoint_never_holds_the_sync_up_and_is_retried(
    conn, trusted, monkeypatch
):
    secret = trusted.endpoint("/acme", ["500", "hang", "200"])
    _connection(monkeypatch, "acme_webhook", secret)
    config_id = _customer(conn, "acme", [{"url": trusted.url("/acme"), "conn_id": "acme_webhook"}])
    sync_id = _attempt(conn, config_id, "acme", "success", "run-1")

    # First try, right after the attempt: answered 500; the sync task waits for nothing more.
    started = time.monotonic()
    assert webhooks.after_attempt("run-1", config_id) == {"events": 1, "delivered": 0}
    assert time.monotonic() - started < webhooks.FIRST_TRY_TIMEOUT_S
    (event,) = fetch(conn, "select * from webhook_event")
    assert event["status"] == "pending" and event["event_type"] == "sync.succeeded"
    assert event["subject"] == f"sync:{sync_id}" and event["attempts"] == 1
    wait = event["next_attempt_at"] - fetch(conn, "select now() as t")[0]["t"]
    assert timedelta(minutes=4) < wait <= webhooks.FIRST_RETRY

    # Announcing the same attempt again (a re-run of the task's hook) writes and sends nothing.
    assert webhooks.after_attempt("run-1", config_id) == {"events": 0, "delivered": 0}
    assert len(trusted.at("/acme")) == 1

    # The retry DAG's step, once due: the endpoint hangs past the timeout ...
    _make_due(conn)
    started = time.monotonic()
    (hung,) = webhooks.deliver(conn, timeout=1.0)
    assert time.monotonic() - started < 3
    assert not hung.ok and hung.error == "no answer within 1 s"
    # ... and a later retry is accepted.
    _make_due(conn)
    (ok,) = webhooks.deliver(conn)
    assert ok.ok and ok.status_code == 200

    tries = trusted.at("/acme")
    assert [t.answer for t in tries] == ["500", "hang", "200"]
    assert all(t.verified for t in tries)  # every try signed, checked by standardwebhooks
    assert {t.headers["webhook-id"] for t in tries} == {event["event_id"]}
    assert {t.body for t in tries} == {event["payload"].encode()}  # the same event each time
    payload = tries[-1].payload
    assert payload["type"] == "sync.succeeded"
    data = payload["data"]
    assert data["sync_id"] == sync_id and data["status"] == "success"
    assert data["counts"]["created"] == 3 and data["counts"]["total_rows"] == 3
    assert data["totals"] == {
        "active_budgets": 3,
        "by_period": {"FY2026-M01": {"AUD": 1250.5}, "FY2026-Q1": {"AUD": 800.0}},
    }
    assert data["history_url"] == (
        "https://finsync.example.com/finsync/sync/history?customer_id=acme"
    )

    deliveries = fetch(
        conn,
        "select attempt, sent_by, status_code, is_success, error from webhook_delivery "
        "order by delivery_id",
    )
    assert deliveries == [
        {"attempt": 1, "sent_by": "sync", "status_code": 500, "is_success": False,
         "error": "HTTP 500"},
        {"attempt": 2, "sent_by": "retry", "status_code": None, "is_success": False,
         "error": "no answer within 1 s"},
        {"attempt": 3, "sent_by": "retry", "status_code": 200, "is_success": True, "error": None},
    ]  # fmt: skip
    (done,) = fetch(conn, "select status, attempts, delivered_at from webhook_event")
    assert done["status"] == "delivered" and done["attempts"] == 3 and done["delivered_at"]
    assert webhooks.deliver(conn) == []  # nothing due any more


def test_a_first_try_that_hangs_costs_the_sync_at_most_the_short_timeout(
    conn, trusted, monkeypatch
):
    secret = trusted.endpoint("/slow", ["hang"])
    _connection(monkeypatch, "slow_webhook", secret)
    other = trusted.endpoint("/fine", ["200"])
    _connection(monkeypatch, "fine_webhook", other)
    config_id = _customer(
        conn,
        "slowco",
        [
            {"url": trusted.url("/slow"), "conn_id": "slow_webhook"},
            {"url": trusted.url("/fine"), "conn_id": "fine_webhook", "events": ["sync.failed"]},
        ],
    )
    _attempt(conn, config_id, "slowco", "partial", "run-2")
    _attempt(conn, config_id, "slowco", "failed", "run-2")
    started = time.monotonic()
    # /slow gets both events (both hang), /fine only sync.failed: tried at once, not in turn
    assert webhooks.after_attempt("run-2", config_id) == {"events": 3, "delivered": 1}
    took = time.monotonic() - started
    assert webhooks.FIRST_TRY_TIMEOUT_S - 0.5 < took < webhooks.FIRST_TRY_TIMEOUT_S + 1.5
    assert [r.payload["type"] for r in trusted.at("/fine")] == ["sync.failed"]
    rows = fetch(
        conn,
        "select w.event_type, d.error from webhook_delivery d join webhook_event w "
        "using (event_id) where w.endpoint_url like '%%/slow' order by w.event_type",
    )
    assert rows == [
        {"event_type": "sync.failed", "error": "no answer within 3 s"},
        {"event_type": "sync.partial", "error": "no answer within 3 s"},
    ]


def test_events_are_given_up_a_day_after_they_were_created(conn, trusted, monkeypatch):
    secret = trusted.endpoint("/down", ["503"])
    _connection(monkeypatch, "down_webhook", secret)
    config_id = _customer(
        conn, "downco", [{"url": trusted.url("/down"), "conn_id": "down_webhook"}]
    )
    _attempt(conn, config_id, "downco", "needs_review", "run-3")
    webhooks.after_attempt("run-3", config_id)
    conn.execute("update webhook_event set give_up_at = now() + interval '1 minute'")
    _make_due(conn)
    (result,) = webhooks.deliver(conn)
    assert result.error == "HTTP 503"
    (event,) = fetch(conn, "select status, attempts, event_type from webhook_event")
    assert event == {"status": "failed", "attempts": 2, "event_type": "sync.needs_review"}
    assert webhooks.deliver(conn) == []  # a given-up event is never tried again


def test_a_missing_or_malformed_secret_is_recorded_by_name_never_by_value(
    conn, trusted, monkeypatch
):
    trusted.endpoint("/nosecret", ["200"])
    _connection(monkeypatch, "bad_webhook", "whsec_not-base64!")
    config_id = _customer(
        conn,
        "badco",
        [
            {"url": trusted.url("/nosecret"), "conn_id": "bad_webhook"},
            {"url": trusted.url("/nosecret?x=1"), "conn_id": "missing_webhook"},
        ],
    )
    _attempt(conn, config_id, "badco", "failed", "run-4")
    assert webhooks.after_attempt("run-4", config_id) == {"events": 2, "delivered": 0}
    errors = [r["error"] for r in fetch(conn, "select error from webhook_delivery order by 1")]
    assert errors == [
        "no Airflow connection 'missing_webhook' holding the signing secret "
        "(AirflowNotFoundException)",
        "the password of Airflow connection 'bad_webhook' is not a signing secret: expected "
        "whsec_ followed by at least 16 base64-encoded random bytes",
    ]
    assert trusted.at("/nosecret") == []  # nothing unsigned ever leaves


@pytest.mark.parametrize(
    ("endpoints", "message"),
    [
        ([{"url": "http://erp.example.com/h", "conn_id": "c"}], "webhooks[0].url must be an https"),
        ([{"url": "https://u:p@erp.example.com/h", "conn_id": "c"}], "must not carry credentials"),
        (
            [{"url": "https://erp.example.com/h", "conn_id": "c", "secret": "whsec_x"}],
            "webhooks[0]: unknown key(s) secret",
        ),
        ([{"url": "https://erp.example.com/h"}], "webhooks[0].conn_id is required"),
        (
            [{"url": "https://a.example.com/", "conn_id": "c", "events": ["sync.done"]}],
            "webhooks[0].events: unknown event type(s) ['sync.done']",
        ),
        ({"url": "https://a.example.com/"}, "webhooks must be a list"),
    ],
)
def test_webhook_settings_are_checked(conn, endpoints, message):
    config_id = configs.add(
        conn, customer_id="x", source_type="local", source_config={"path": "/nowhere"}
    )
    with pytest.raises(ValueError) as raised:
        configs.update(conn, config_id, {"webhooks": endpoints}, changed_by="test")
    assert message in str(raised.value)
    assert "whsec_x" not in str(raised.value) and ":p@" not in str(raised.value)
    assert fetch(conn, "select webhooks from budget_data_source_config")[0]["webhooks"] == []


def test_alert_thresholds_are_checked_and_sorted(conn):
    config_id = configs.add(
        conn, customer_id="x", source_type="local", source_config={"path": "/nowhere"}
    )
    (cfg,) = configs.load(conn, config_id=config_id)
    assert cfg.alert_thresholds_pct == [80.0, 100.0]  # the default
    row = configs.update(conn, config_id, {"alert_thresholds_pct": [100, 50, 90]}, changed_by="t")
    assert [float(v) for v in row["alert_thresholds_pct"]] == [50.0, 90.0, 100.0]
    for bad in ([0], [80, 80], "80", [True], [1, 2, 3, 4, 5, 6]):
        with pytest.raises(ValueError, match="alert_thresholds_pct"):
            configs.update(conn, config_id, {"alert_thresholds_pct": bad}, changed_by="t")


def test_budget_sync_run_announces_each_attempt_and_the_retry_step_delivers_later(
    conn, airflow_db, trusted, tmp_path, monkeypatch
):
    """Through DAG budget_sync: acme's file imports, beta's (payroll) fails its task; both
    attempts are announced with a first try each (answered 500), neither sync is failed or
    held up by it, and the retry DAG's step delivers both later."""
    import os

    from tests.integration.dagrun import run_dag, task_states, xcom_value

    monkeypatch.setenv("FINSYNC_WORK_DIR", str(tmp_path / "work"))
    files = {
        "acme": "Cost Centre,Account,Period,Budget Amount,Currency\n"
        'Marketing,Events,Jan 2026,"1,000.00",AUD\nIT,Cloud,Jan 2026,250.50,AUD\n',
        "beta": "Employee Name,Base Salary,Overtime,Gross Pay\n"
        + "".join(f"P{i},{5000 + i},{i},{5100 + i}\n" for i in range(20)),
    }
    for name, text in files.items():
        inbox = tmp_path / name
        inbox.mkdir()
        (inbox / "export.csv").write_text(text)
        old = time.time() - 600
        os.utime(inbox / "export.csv", (old, old))
        _connection(
            monkeypatch, f"{name}_webhook", trusted.endpoint(f"/dag-{name}", ["500", "200"])
        )
        config_id = configs.add(
            conn,
            customer_id=name,
            source_type="local",
            source_config={"path": str(inbox)},
            default_currency="AUD",
            frequency="hourly",
        )
        endpoint = {"url": trusted.url(f"/dag-{name}"), "conn_id": f"{name}_webhook"}
        configs.update(conn, config_id, {"webhooks": [endpoint]}, changed_by="test")

    run = run_dag("budget_sync", {})
    states = task_states(run)
    summary = xcom_value(run, "report_summary")["customers"]
    assert summary["acme"]["status"] == "success" and summary["beta"]["status"] == "failed"
    assert states["report_summary"] == "success"  # the run went on as without webhooks
    first = fetch(
        conn,
        "select w.customer_id, w.event_type, d.sent_by, d.status_code from webhook_delivery d "
        "join webhook_event w using (event_id) order by w.customer_id",
    )
    assert first == [
        {"customer_id": "acme", "event_type": "sync.succeeded", "sent_by": "sync",
         "status_code": 500},
        {"customer_id": "beta", "event_type": "sync.failed", "sent_by": "sync",
         "status_code": 500},
    ]  # fmt: skip

    _make_due(conn)
    assert webhooks.deliver_due_task({})["delivered"] == 2
    for name, event_type in (("acme", "sync.succeeded"), ("beta", "sync.failed")):
        tries = trusted.at(f"/dag-{name}")
        assert [t.answer for t in tries] == ["500", "200"] and all(t.verified for t in tries)
        assert tries[-1].payload["type"] == event_type
        assert tries[-1].payload["data"]["sync_id"] == summary[name].get(
            "sync_id", tries[-1].payload["data"]["sync_id"]
        )
    acme = trusted.at("/dag-acme")[-1].payload["data"]
    assert acme["counts"]["created"] == 2 and acme["file_name"] == "export.csv"
    assert acme["totals"]["by_period"] == {"FY2026-M01": {"AUD": 1250.5}}
    beta = trusted.at("/dag-beta")[-1].payload["data"]
    assert "payroll" in beta["message"] and beta["totals"]["active_budgets"] == 0


def test_cli_saves_endpoints_and_thresholds_and_lists_the_deliveries(conn, capsys):
    from finsync import cli

    assert (
        cli.main(
            [
                "customers",
                "add",
                "acme",
                "--source-type",
                "local",
                "--source-config",
                '{"path": "/nowhere"}',
                "--webhook",
                "https://erp.example.com/hooks/finsync?token=t0p",
                "acme_webhook",
                "--alert-thresholds",
                "90, 75",
            ]
        )
        == 0
    )
    (cfg,) = configs.load(conn, customer_id="acme")
    assert cfg.webhooks == [
        {"url": "https://erp.example.com/hooks/finsync?token=t0p", "conn_id": "acme_webhook"}
    ]
    assert cfg.alert_thresholds_pct == [75.0, 90.0]
    capsys.readouterr()
    assert cli.main(["webhooks", "list"]) == 0
    out = capsys.readouterr().out
    assert "https://erp.example.com/hooks/finsync " in out and "t0p" not in out
    assert "acme_webhook" in out and "never" in out
    beta = ["customers", "add", "beta", "--source-type", "local", "--source-config", "{}"]
    assert cli.main([*beta, "--webhook", "http://plain.example.com/", "c"]) == 1
    assert "webhooks[0].url must be an https:// URL" in capsys.readouterr().err
    assert configs.load(conn, customer_id="beta") == []  # nothing saved


def test_a_rejected_review_announces_the_attempt_again_as_failed(conn, trusted, monkeypatch):
    """needs_review, then a person rejects the file in apply_reviews: the same attempt's
    sync.failed is a second event (its own id), sent right away."""
    from types import SimpleNamespace

    from finsync.budget import airflow_steps

    secret = trusted.endpoint("/review", ["200"])
    _connection(monkeypatch, "review_webhook", secret)
    config_id = _customer(
        conn, "revco", [{"url": trusted.url("/review"), "conn_id": "review_webhook"}]
    )
    sync_id = _attempt(conn, config_id, "revco", "needs_review", "run-5")
    assert webhooks.after_attempt("run-5", config_id)["delivered"] == 1
    review = {"sync_id": sync_id, "config_id": config_id, "customer_id": "revco", "kind": "x"}
    response = {"chosen_options": ["Reject"], "responded_by_user": {"name": "pat"}}
    context = {"dag_run": SimpleNamespace(run_id="run-5")}
    assert airflow_steps.apply_reviews([review], [response], context) == [
        {"customer_id": "revco", "status": "rejected"}
    ]
    got = trusted.at("/review")
    assert [r.payload["type"] for r in got] == ["sync.needs_review", "sync.failed"]
    assert got[0].headers["webhook-id"] != got[1].headers["webhook-id"]
    assert got[1].payload["data"]["sync_id"] == sync_id
    assert "rejected in review by pat" in got[1].payload["data"]["message"]
