"""Shared set-up for the budget service's tests: a customer with budgets, and tokens."""

from __future__ import annotations

import psycopg

from finsync.api.auth import create_token


def seed_customer(
    conn: psycopg.Connection,
    customer_id: str = "acme",
    *,
    budgets: list[tuple] = (),
    frequency: str = "daily",
    fy_start: int = 1,
    synced: bool = True,
) -> int:
    """A config, the given budgets ((department, sub_category, period, amount[, currency])),
    and (synced=True) a successful sync just now."""
    config_id = conn.execute(
        "insert into budget_data_source_config (customer_id, source_type, frequency, "
        "source_config, fiscal_year_start_month) values (%s, 'local', %s, %s, %s) "
        "returning config_id",
        (customer_id, frequency, '{"path": "/tmp/none"}', fy_start),
    ).fetchone()[0]
    for department, sub_category, period, amount, *currency in budgets:
        conn.execute(
            "insert into budget (customer_id, department, sub_category, fiscal_period, "
            "budgeted_amount, currency, source) values (%s, %s, %s, %s, %s, %s, 'test')",
            (customer_id, department, sub_category, period, amount, (currency or ["USD"])[0]),
        )
    if synced:
        conn.execute(
            "insert into sync_history (customer_id, config_id, status, end_time) "
            "values (%s, %s, 'success', now())",
            (customer_id, config_id),
        )
    return config_id


def tokens(conn: psycopg.Connection, *customers: str) -> dict[str, str]:
    """An admin token and one customer token per customer: {'admin': ..., customer: ...}."""
    out = {"admin": create_token(conn, name="admin", scope="admin")}
    for c in customers:
        out[c] = create_token(conn, name=f"{c}-app", scope="customer", customer_id=c)
    return out


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
