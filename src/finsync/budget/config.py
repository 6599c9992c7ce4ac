"""Customers' source configs (`budget_data_source_config`): load, add, disable, schedule.

Frequencies map to intervals; a config is due when it is enabled, not `manual`, and its
`next_sync_at` is empty or past. Read at run time only (never at DAG parse time).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

FREQUENCIES = {
    "hourly": timedelta(hours=1),
    "every_4_hours": timedelta(hours=4),
    "every_12_hours": timedelta(hours=12),
    "daily": timedelta(days=1),
    "manual": None,
}


@dataclass
class SourceConfig:
    config_id: int
    customer_id: str
    source_type: str
    enabled: bool
    frequency: str
    source_config: dict[str, Any]
    column_mapping: dict[str, str | None] | None
    column_mapping_version: int
    fiscal_year_start_month: int
    default_currency: str
    error_tolerance_pct: float
    max_soft_delete_pct: float
    settle_seconds: int
    notify: dict[str, Any] = field(default_factory=dict)
    last_sync_at: datetime | None = None
    last_sync_status: str | None = None
    next_sync_at: datetime | None = None

    @classmethod
    def from_row(cls, row: dict) -> SourceConfig:
        names = cls.__dataclass_fields__
        data = {k: v for k, v in row.items() if k in names}
        data["error_tolerance_pct"] = float(data["error_tolerance_pct"])
        data["max_soft_delete_pct"] = float(data["max_soft_delete_pct"])
        return cls(**data)

    def for_xcom(self) -> dict[str, Any]:
        return {
            "config_id": self.config_id,
            "customer_id": self.customer_id,
            "source_type": self.source_type,
        }


def load(
    conn: psycopg.Connection,
    *,
    customer_id: str | None = None,
    config_id: int | None = None,
    enabled_only: bool = False,
) -> list[SourceConfig]:
    where, args = ["true"], []
    if customer_id is not None:
        where.append("customer_id = %s")
        args.append(customer_id)
    if config_id is not None:
        where.append("config_id = %s")
        args.append(config_id)
    if enabled_only:
        where.append("enabled")
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"select * from budget_data_source_config where {' and '.join(where)} "  # noqa: S608
            "order by customer_id, config_id",
            args,
        )
        return [SourceConfig.from_row(r) for r in cur.fetchall()]


def due(conn: psycopg.Connection, now: datetime) -> list[SourceConfig]:
    """Enabled, scheduled (not manual) configs whose next sync time has come."""
    return [
        c
        for c in load(conn, enabled_only=True)
        if FREQUENCIES.get(c.frequency) is not None
        and (c.next_sync_at is None or c.next_sync_at <= now)
    ]


def add(
    conn: psycopg.Connection,
    *,
    customer_id: str,
    source_type: str,
    source_config: dict[str, Any],
    frequency: str = "daily",
    default_currency: str = "USD",
    fiscal_year_start_month: int = 1,
    error_tolerance_pct: float = 0,
    max_soft_delete_pct: float = 20,
    notify: dict[str, Any] | None = None,
) -> int:
    from finsync.budget.sources import validate_source_config

    validate_source_config(source_type, source_config)
    if frequency not in FREQUENCIES:
        raise ValueError(f"frequency must be one of {', '.join(FREQUENCIES)}, got {frequency!r}")
    row = conn.execute(
        """
        insert into budget_data_source_config (
            customer_id, source_type, frequency, source_config, default_currency,
            fiscal_year_start_month, error_tolerance_pct, max_soft_delete_pct, notify
        ) values (%s, %s, %s, %s, %s, %s, %s, %s, %s)
        on conflict (customer_id, source_type) do update set
            frequency = excluded.frequency, source_config = excluded.source_config,
            default_currency = excluded.default_currency,
            fiscal_year_start_month = excluded.fiscal_year_start_month,
            error_tolerance_pct = excluded.error_tolerance_pct,
            max_soft_delete_pct = excluded.max_soft_delete_pct, notify = excluded.notify,
            enabled = true, updated_at = now()
        returning config_id
        """,
        (
            customer_id,
            source_type,
            frequency,
            json.dumps(source_config),
            default_currency.upper(),
            fiscal_year_start_month,
            error_tolerance_pct,
            max_soft_delete_pct,
            json.dumps(notify or {}),
        ),
    ).fetchone()
    return row[0]


def disable(conn: psycopg.Connection, customer_id: str) -> int:
    return conn.execute(
        "update budget_data_source_config set enabled = false, updated_at = now() "
        "where customer_id = %s and enabled",
        (customer_id,),
    ).rowcount


def save_confirmed_mapping(
    conn: psycopg.Connection,
    config_id: int,
    headers: list[str],
    mapping: dict[str, str | None],
    confirmed_by: str,
) -> int:
    """Store a person's (or a run's) confirmed mapping as the config's next version."""
    with conn.transaction():
        version = conn.execute(
            "update budget_data_source_config set column_mapping = %s, "
            "column_mapping_version = column_mapping_version + 1, updated_at = now() "
            "where config_id = %s returning column_mapping_version",
            (json.dumps(mapping), config_id),
        ).fetchone()[0]
        conn.execute(
            "insert into budget_column_mapping_history "
            "(config_id, version, headers, column_mapping, confirmed_by) "
            "values (%s, %s, %s, %s, %s)",
            (config_id, version, json.dumps(headers), json.dumps(mapping), confirmed_by),
        )
    return version


def record_outcome(
    conn: psycopg.Connection, config: SourceConfig, status: str, now: datetime
) -> None:
    interval = FREQUENCIES.get(config.frequency)
    conn.execute(
        "update budget_data_source_config set last_sync_at = %s, last_sync_status = %s, "
        "next_sync_at = %s where config_id = %s",
        (now, status, now + interval if interval else None, config.config_id),
    )
