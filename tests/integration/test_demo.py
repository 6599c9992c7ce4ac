"""The budget part of `make demo`, as the demo runs it: the exports shipped in samples/demo
through DAG budget_sync with stock Airflow (`airflow dags test`, a real subprocess), then
`finsync api serve` answering a check, a reserve and its retry; twice, since the demo must
run again with the same outcomes. Real PostgreSQL, real Airflow, a real uvicorn process."""

from __future__ import annotations

import socket

import pytest

from finsync import demo
from tests.conftest import fetch

pytestmark = pytest.mark.integration


@pytest.fixture
def demo_env(conn, airflow_db, tmp_path, monkeypatch):
    monkeypatch.setenv("FINSYNC_WORK_DIR", str(tmp_path / "work"))
    return conn


def statuses(conn) -> dict[str, list[str]]:
    rows = fetch(conn, "select customer_id, status from sync_history order by sync_id")
    found: dict[str, list[str]] = {}
    for r in rows:
        found.setdefault(r["customer_id"], []).append(r["status"])
    return found


def test_the_demo_syncs_its_exports_and_refuses_the_payroll_twice(demo_env):
    conn = demo_env
    printed: list[str] = []
    assert demo.run_budget_sync(printed.append) == 0, "\n".join(printed)
    text = "\n".join(printed)
    assert "$ airflow dags test budget_sync" in text
    assert "looks like a payroll file" in text
    assert statuses(conn) == {
        "demo-acme": ["success"],
        "demo-globex": ["success"],
        "demo-initech": ["failed"],
    }
    budgets = fetch(
        conn,
        "select customer_id, count(*) as n, min(currency) as currency from budget "
        "where deleted_at is null group by customer_id order by customer_id",
    )
    assert [(b["customer_id"], b["n"], b["currency"]) for b in budgets] == [
        ("demo-acme", 31, "USD"),
        ("demo-globex", 84, "AUD"),  # 7 lines x 12 months; nothing kept of the payroll
    ]
    # Globex's fiscal year starts in July: the July 2025 column is month 1 of FY2026.
    july = fetch(
        conn,
        "select fiscal_period, budgeted_amount from budget where customer_id = 'demo-globex' "
        "and department = 'Operations' and sub_category = 'Logistics' order by fiscal_period",
    )
    assert (july[0]["fiscal_period"], str(july[0]["budgeted_amount"])) == ("FY2026-M01", "21000.00")
    assert (july[-1]["fiscal_period"], str(july[-1]["budgeted_amount"])) == (
        "FY2026-M12",
        "22100.00",
    )

    # Again: the same outcomes, every budget left untouched.
    again: list[str] = []
    assert demo.run_budget_sync(again.append) == 0, "\n".join(again)
    last = fetch(
        conn,
        "select distinct on (customer_id) customer_id, status, created_count, unchanged_count "
        "from sync_history order by customer_id, sync_id desc",
    )
    assert [
        (r["customer_id"], r["status"], r["created_count"], r["unchanged_count"]) for r in last
    ] == [
        ("demo-acme", "success", 0, 31),
        ("demo-globex", "success", 0, 84),
        ("demo-initech", "failed", 0, 0),
    ]
    assert fetch(conn, "select count(*) as n from audit_log where action <> 'create'")[0]["n"] == 0


def test_the_demo_talks_to_the_budget_service_beside_airflow(demo_env):
    conn = demo_env
    assert demo.run_budget_sync(lambda _: None) == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for _ in range(2):  # twice: the demo leaves nothing reserved, so the story repeats
        printed: list[str] = []
        answers = demo.run_budget_service(printed.append, port=port)
        text = "\n".join(printed)
        assert f"$ finsync api serve --port {port}" in text
        assert "curl -s 127.0.0.1" in text and "$TOKEN" in text
        assert "fsk_" not in text  # the token itself is never printed
        check, reserve, retry = answers["check"], answers["reserve"], answers["retry"]
        assert check.status_code == 200 and check.json()["fits"] is True
        assert check.json()["fiscal_period"] == "FY2026-M02"
        assert (reserve.status_code, reserve.json()["available"]) == (201, 1750.0)
        assert retry.status_code == 201 and retry.headers["idempotent-replayed"] == "true"
        assert retry.json()["reservation_id"] == reserve.json()["reservation_id"]
        assert "HTTP/1.1 201 Created\nidempotent-replayed: true" in text
        assert answers["release"].json()["status"] == "released"
        # Stopped, and its token no longer works anywhere.
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0
    tokens = fetch(conn, "select revoked_at from budget_api_token")
    assert len(tokens) == 2 and all(t["revoked_at"] is not None for t in tokens)
    rows = fetch(conn, "select reserved_amount, committed_amount from budget_utilization")
    assert rows and all(r["reserved_amount"] == 0 and r["committed_amount"] == 0 for r in rows)


def test_a_budget_run_that_does_not_finish_stops_the_demo_with_a_reason(demo_env, monkeypatch):
    monkeypatch.setattr(demo, "BUDGET_RUN_TIMEOUT_S", 1)
    printed: list[str] = []
    assert demo.run_budget_sync(printed.append) == 1
    assert "budget_sync did not finish within 1 s (a review waiting for a person?)" in "\n".join(
        printed
    )
