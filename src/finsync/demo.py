"""Deterministic, realistic demo data for every BURC and segmentation source table.

`seed()` empties the source tables of the finance data contract and fills them again by
running include/sql/demo/NN_*.sql in order, in one transaction. Each file is one set-based
statement; pseudo-random values come from `hashtextextended` keyed by the `seed` parameter, so
the same arguments always give the same data. The hierarchy maps are not emptied: demo CSEs
are added with `on conflict do nothing`, so users' mappings stay as they are.

Meant for demo and test databases: it deletes every row of the source tables.
"""

from __future__ import annotations

import logging
import re
import time

import psycopg

from finsync import sql

log = logging.getLogger(__name__)

# Every source table of the contract (migration 001): emptied, then filled by the demo files.
SOURCE_TABLES = (
    "clients",
    "burc_client_revenue_detail",
    "burc_arr_tracking",
    "burc_nrr_metrics",
    "burc_attrition_risk",
    "burc_pipeline_deals",
    "burc_contracts",
    "aging_accounts",
    "client_health_history",
    "burc_monthly_forecast",
    "burc_bu_pnl",
    "planning_kpi_targets",
    "segmentation_tiers",
    "client_segmentation",
    "segmentation_event_types",
    "tier_event_requirements",
    "segmentation_events",
    "segmentation_event_compliance",
    "account_plans",
    "territory_strategies",
)
# Owned by finsync and editable by users: never emptied, only completed.
MAP_TABLES = ("cse_territory_map", "territory_bu_map")

# Tables later demo files read: analysed right after they are filled (inside the transaction)
# so the planner sees their real size when joining them.
_READ_LATER = frozenset(
    {
        "cse_territory_map",
        "territory_bu_map",
        "clients",
        "burc_arr_tracking",
        "burc_client_revenue_detail",
        "segmentation_tiers",
        "segmentation_event_types",
        "tier_event_requirements",
        "client_segmentation",
    }
)

_SEED_FILE = re.compile(r"^\d+_seed_([a-z0-9_]+)\.sql$")
MAX_CLIENTS = 1_000_000
_PG_BIGINT = 2**63


def _validate(clients: int, first_year: int, last_year: int, seed: int, start_month: int) -> None:
    def whole(name: str, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be a whole number, got {value!r}")

    for name, value in (
        ("clients", clients),
        ("first_year", first_year),
        ("last_year", last_year),
        ("seed", seed),
        ("start_month", start_month),
    ):
        whole(name, value)
    if not 1 <= clients <= MAX_CLIENTS:
        raise ValueError(f"clients must be from 1 to {MAX_CLIENTS:,}, got {clients:,}")
    for name, value in (("first_year", first_year), ("last_year", last_year)):
        if not 1900 <= value <= 9000:
            raise ValueError(f"{name} must be a fiscal year from 1900 to 9000, got {value}")
    if first_year > last_year:
        raise ValueError(
            f"first_year ({first_year}) must not be after last_year ({last_year}); "
            "swap them to seed that range"
        )
    if not 1 <= start_month <= 12:
        raise ValueError(f"start_month must be a month number from 1 to 12, got {start_month}")
    if not -_PG_BIGINT <= seed < _PG_BIGINT:
        raise ValueError(f"seed must fit in a PostgreSQL bigint, got {seed}")


def seed(
    conn: psycopg.Connection,
    *,
    clients: int = 150,
    first_year: int,
    last_year: int,
    seed: int = 42,
    start_month: int = 1,
) -> dict[str, int]:
    """Replace the demo data of every BURC and segmentation source table.

    In one transaction: empty the source tables, complete the hierarchy maps with demo CSEs
    (users' rows are kept), then run include/sql/demo in order. After the commit the seeded
    tables are analysed. Fiscal years `first_year`..`last_year` are seeded (NRR bridge rows
    also for the two years before); `start_month` is the fiscal year's first calendar month.

    Returns the number of rows per table (for the maps: their total after seeding).
    Raises ValueError for arguments out of range; nothing is changed then.
    """
    _validate(clients, first_year, last_year, seed, start_month)
    params = {
        "seed": seed,
        "client_count": clients,
        "first_year": first_year,
        "last_year": last_year,
        "start_month": start_month,
    }
    files = sql.numbered_files("demo")
    if not files:
        raise FileNotFoundError("no demo SQL files found under include/sql/demo")

    log.info(
        "seeding demo data: %s clients, fiscal years %s-%s, start month %s, seed %s",
        clients,
        first_year,
        last_year,
        start_month,
        seed,
    )
    counts: dict[str, int] = {}
    started = time.perf_counter()
    with conn.transaction():
        conn.execute("truncate table " + ", ".join(SOURCE_TABLES))
        for path in files:
            step_started = time.perf_counter()
            cur = conn.execute(path.read_text(encoding="utf-8"), params)
            match = _SEED_FILE.match(path.name)
            if match is None:  # e.g. the helper function: nothing to count
                log.info("ran %s in %.2f s", path.name, time.perf_counter() - step_started)
                continue
            table = match.group(1)
            if table in MAP_TABLES:
                row = conn.execute(f"select count(*) from {table}").fetchone()
                counts[table] = int(row[0]) if row else 0
            else:
                counts[table] = max(cur.rowcount, 0)
            if table in _READ_LATER:
                conn.execute(f"analyze {table}")
            log.info(
                "seeded %s: %s rows in %.2f s",
                table,
                f"{counts[table]:,}",
                time.perf_counter() - step_started,
            )
    missing = [t for t in SOURCE_TABLES if t not in counts]
    if missing:
        log.warning("no demo file seeds %s; they are left empty", ", ".join(missing))

    step_started = time.perf_counter()
    conn.execute("analyze " + ", ".join(sorted(set(counts))))
    if not conn.autocommit:
        conn.commit()
    log.info("analysed seeded tables in %.2f s", time.perf_counter() - step_started)
    log.info("demo seed done in %.1f s", time.perf_counter() - started)
    return counts
