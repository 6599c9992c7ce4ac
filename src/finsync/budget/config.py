"""Customers' source configs (`budget_data_source_config`): the one writer.

Every write to a config, and every new column-mapping version with its
`budget_column_mapping_history` row, goes through this module, whoever asks: the CLI
(`finsync customers ...`), the budget service (`/sync/config`) and DAG budget_sync (outcomes,
confirmed mappings). So a mapping version always has its history row, and the same checks
(source_config without credentials, known frequency) hold on every path.

Frequencies map to intervals; a config is due when it is enabled, not `manual`, and its
`next_sync_at` is empty or past. Read at run time only (never at DAG parse time).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from finsync.budget import settings as checks
from finsync.budget.settings import FREQUENCIES
from finsync.warehouse import one


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
    share_mappings: bool = True  # people's answers teach the mapper, and it uses what others taught
    writeback: dict[str, Any] | None = None  # utilisation write-back (budget/writeback.py)
    webhooks: list[dict[str, Any]] = field(default_factory=list)  # budget/webhooks.py
    alert_thresholds_pct: list[float] = field(default_factory=lambda: [80.0, 100.0])
    last_sync_at: datetime | None = None
    last_sync_status: str | None = None
    next_sync_at: datetime | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> SourceConfig:
        names = cls.__dataclass_fields__
        data = {k: v for k, v in row.items() if k in names}
        data["error_tolerance_pct"] = float(data["error_tolerance_pct"])
        data["max_soft_delete_pct"] = float(data["max_soft_delete_pct"])
        if data.get("alert_thresholds_pct") is not None:
            data["alert_thresholds_pct"] = [float(v) for v in data["alert_thresholds_pct"]]
        # `settle_seconds` may also be given in source_config (validated there); it wins.
        if isinstance((data.get("source_config") or {}).get("settle_seconds"), int):
            data["settle_seconds"] = data["source_config"]["settle_seconds"]
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
    where: list[str] = ["true"]
    args: list[str | int] = []
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
    settle_seconds: int = 60,
) -> int:
    """Add a customer's source config, or replace the settings of the one it has for that
    source type (enabled again; its mapping and sync times are kept). The CLI's upsert."""
    _check(source_type, {"source_config": source_config, "frequency": frequency})
    row = one(
        conn.execute(
            """
        insert into budget_data_source_config (
            customer_id, source_type, frequency, source_config, default_currency,
            fiscal_year_start_month, error_tolerance_pct, max_soft_delete_pct, notify,
            settle_seconds
        ) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        on conflict (customer_id, source_type) do update set
            frequency = excluded.frequency, source_config = excluded.source_config,
            default_currency = excluded.default_currency,
            fiscal_year_start_month = excluded.fiscal_year_start_month,
            error_tolerance_pct = excluded.error_tolerance_pct,
            max_soft_delete_pct = excluded.max_soft_delete_pct, notify = excluded.notify,
            settle_seconds = excluded.settle_seconds, enabled = true, updated_at = now()
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
                settle_seconds,
            ),
        )
    )
    return int(row[0])


# The settings a person may set (POST and PATCH /sync/config, `finsync customers add`).
EDITABLE = (
    "enabled",
    "frequency",
    "source_config",
    "column_mapping",
    "fiscal_year_start_month",
    "default_currency",
    "error_tolerance_pct",
    "max_soft_delete_pct",
    "settle_seconds",
    "notify",
    "share_mappings",
    "writeback",
    "webhooks",
    "alert_thresholds_pct",
)
# What a config row is, as the API returns it.
COLUMNS = (
    "config_id, customer_id, source_type, enabled, frequency, source_config, column_mapping, "
    "column_mapping_version, fiscal_year_start_month, default_currency, error_tolerance_pct, "
    "max_soft_delete_pct, settle_seconds, notify, share_mappings, last_sync_at, last_sync_status, "
    "next_sync_at, created_at, updated_at, writeback, webhooks, "
    "alert_thresholds_pct::float8[] as alert_thresholds_pct"  # JSON numbers, not decimal text
)
_JSON = ("source_config", "column_mapping", "notify", "writeback", "webhooks")


def _check(source_type: str, settings: dict[str, Any]) -> None:
    """Raise ValueError (SourceConfigError for the source) naming what is wrong, never values."""
    from finsync.budget.sources import validate_source_config

    unknown = sorted(set(settings) - set(EDITABLE))
    if unknown:
        raise ValueError(f"not a config setting: {', '.join(unknown)}")
    if "source_config" in settings:
        validate_source_config(source_type, settings["source_config"])
    frequency = settings.get("frequency")
    if frequency is not None and frequency not in FREQUENCIES:
        raise ValueError(f"frequency must be one of {', '.join(FREQUENCIES)}, got {frequency!r}")
    if "writeback" in settings:  # folder, formats, its own frequency (one of FREQUENCIES)
        checks.validate_writeback(source_type, settings["writeback"])
    if "webhooks" in settings or "alert_thresholds_pct" in settings:  # budget/webhooks.py
        checks.validate_endpoints(settings.get("webhooks"))
        if "alert_thresholds_pct" in settings:
            settings["alert_thresholds_pct"] = checks.validate_thresholds(
                settings["alert_thresholds_pct"]
            )


def _mapped_columns(mapping: dict[str, str | None]) -> list[str]:
    """The file columns a mapping names: the headers it needs (for a mapping set by hand)."""
    return list(dict.fromkeys(c for c in mapping.values() if c))


def create(
    conn: psycopg.Connection,
    *,
    customer_id: str,
    source_type: str,
    settings: dict[str, Any],
    confirmed_by: str,
) -> dict[str, Any] | None:
    """A new config (None when the customer already has one for that source type). A
    `column_mapping` given here is version 1, with its history row."""
    _check(source_type, settings)
    values = {k: v for k, v in settings.items() if k != "column_mapping"}
    if "default_currency" in values:
        values["default_currency"] = values["default_currency"].upper()
    values = {k: json.dumps(v) if k in _JSON else v for k, v in values.items()}
    names = ["customer_id", "source_type", *values]
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"insert into budget_data_source_config ({', '.join(names)}) "  # noqa: S608
            f"values ({', '.join(f'%({n})s' for n in names)}) "
            "on conflict (customer_id, source_type) do nothing returning config_id",
            {**values, "customer_id": customer_id, "source_type": source_type},
        )
        row = cur.fetchone()
        if row is None:
            return None
        mapping = settings.get("column_mapping")
        if mapping is not None:
            _new_mapping_version(
                conn, row["config_id"], _mapped_columns(mapping), mapping, confirmed_by
            )
        return _row(conn, row["config_id"])


def update(
    conn: psycopg.Connection, config_id: int, changes: dict[str, Any], *, changed_by: str
) -> dict[str, Any] | None:
    """Change some settings of a config (None when there is no such config). A
    `column_mapping` different from the current one becomes the next version, with its history
    row saying who set it; the same mapping again changes nothing."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "select source_type, column_mapping from budget_data_source_config "
            "where config_id = %s for update",
            (config_id,),
        )
        current = cur.fetchone()
        if current is None:
            return None
        _check(current["source_type"], changes)
        values = {k: v for k, v in changes.items() if k != "column_mapping"}
        if "default_currency" in values:
            values["default_currency"] = values["default_currency"].upper()
        mapping = changes.get("column_mapping")
        if mapping is not None and mapping != current["column_mapping"]:
            _new_mapping_version(conn, config_id, _mapped_columns(mapping), mapping, changed_by)
        if values:
            sets = ", ".join(f"{k} = %({k})s" for k in values)
            cur.execute(
                f"update budget_data_source_config set {sets}, updated_at = now() "  # noqa: S608
                "where config_id = %(id)s",
                {
                    **{k: json.dumps(v) if k in _JSON else v for k, v in values.items()},
                    "id": config_id,
                },
            )
        return _row(conn, config_id)


def _row(conn: psycopg.Connection, config_id: int) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"select {COLUMNS} from budget_data_source_config where config_id = %s",  # noqa: S608
            (config_id,),
        )
        return one(cur)  # (the caller wrote it in this transaction)


def rows(conn: psycopg.Connection, customer_id: str | None = None) -> list[dict[str, Any]]:
    """Configs as the API lists them."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"select {COLUMNS} from budget_data_source_config "  # noqa: S608 - constant
            "where %(c)s::text is null or customer_id = %(c)s order by customer_id, config_id",
            {"c": customer_id},
        )
        return cur.fetchall()


def make_due(conn: psycopg.Connection, customer_ids: list[str]) -> int:
    """Due at the next poll (whatever their frequency says): what the demo asks for."""
    return conn.execute(
        "update budget_data_source_config set next_sync_at = null, updated_at = now() "
        "where customer_id = any(%s) and enabled",
        (list(customer_ids),),
    ).rowcount


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
        return _new_mapping_version(conn, config_id, headers, mapping, confirmed_by)


def _new_mapping_version(
    conn: psycopg.Connection,
    config_id: int,
    headers: list[str],
    mapping: dict[str, str | None],
    confirmed_by: str,
) -> int:
    """The config's next mapping version and its history row (inside the caller's
    transaction): the only place either is written."""
    version: int = one(
        conn.execute(
            "update budget_data_source_config set column_mapping = %s, "
            "column_mapping_version = column_mapping_version + 1, updated_at = now() "
            "where config_id = %s returning column_mapping_version",
            (json.dumps(mapping), config_id),
        )
    )[0]
    conn.execute(
        "insert into budget_column_mapping_history "
        "(config_id, version, headers, column_mapping, confirmed_by) "
        "values (%s, %s, %s, %s, %s)",
        (config_id, version, json.dumps(headers), json.dumps(mapping), confirmed_by),
    )
    if not confirmed_by.startswith("system:"):  # a person chose it: evidence for everyone
        _learn(conn, config_id, mapping, confirmed_by)
    return version


# ---------------------------------------------------------------------------------------------
# Mappings learned from people (budget_mapping_learned)


def header_key(header: str) -> str:
    """A header as the mapper compares it (lower case, no accents or punctuation)."""
    from finsync.budget.headers import fold_text

    return fold_text(header)


def _learn(
    conn: psycopg.Connection, config_id: int, mapping: dict[str, str | None], who: str
) -> None:
    """Each header -> field pair of a person's mapping counts once more (unless the customer
    opted out of sharing)."""
    row = conn.execute(
        "select customer_id, share_mappings from budget_data_source_config where config_id = %s",
        (config_id,),
    ).fetchone()
    if row is None or not row[1]:
        return
    pairs = [(header_key(c), f, c) for f, c in mapping.items() if c and header_key(c)]
    for key, field_name, header in pairs:
        conn.execute(
            """
            insert into budget_mapping_learned
                (header_key, field, header_example, customer_ids, last_confirmed_by)
            values (%s, %s, %s, array[%s], %s)
            on conflict (header_key, field) do update set
                confirmations = budget_mapping_learned.confirmations + 1,
                header_example = excluded.header_example,
                customer_ids = (
                    select array_agg(distinct c order by c)
                    from unnest(budget_mapping_learned.customer_ids || excluded.customer_ids) c
                ),
                last_confirmed_at = now(),
                last_confirmed_by = excluded.last_confirmed_by
            """,
            (key, field_name, header, row[0], who),
        )


def learned_evidence(conn: psycopg.Connection) -> dict[str, dict[str, int]]:
    """field -> header key -> how often people chose that pair (one cheap query a sync)."""
    evidence: dict[str, dict[str, int]] = {}
    for key, field_name, confirmations in conn.execute(
        "select header_key, field, confirmations from budget_mapping_learned"
    ):
        evidence.setdefault(field_name, {})[key] = confirmations
    return evidence


def learned_rows(conn: psycopg.Connection) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "select header_example, header_key, field, confirmations, customer_ids, "
            "first_confirmed_at, last_confirmed_at, last_confirmed_by "
            "from budget_mapping_learned order by confirmations desc, header_key, field"
        )
        return cur.fetchall()


def forget_learned(conn: psycopg.Connection, header: str, field_name: str | None = None) -> int:
    """Forget what people taught about `header` (for one field, or every field)."""
    return conn.execute(
        "delete from budget_mapping_learned where header_key = %s and (%s::text is null "
        "or field = %s)",
        (header_key(header), field_name, field_name),
    ).rowcount


def record_outcome(
    conn: psycopg.Connection, config: SourceConfig, status: str, now: datetime
) -> None:
    interval = FREQUENCIES.get(config.frequency)
    conn.execute(
        "update budget_data_source_config set last_sync_at = %s, last_sync_status = %s, "
        "next_sync_at = %s where config_id = %s",
        (now, status, now + interval if interval else None, config.config_id),
    )


def record_rejected_review(conn: psycopg.Connection, config_id: int) -> None:
    """A file rejected in review: the config's last outcome becomes failed (if it was still
    waiting for that review)."""
    conn.execute(
        "update budget_data_source_config set last_sync_status = 'failed' "
        "where config_id = %s and last_sync_status = 'needs_review'",
        (config_id,),
    )
