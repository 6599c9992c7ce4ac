"""The planning compliance sync: segmentation engagement, client -> territory -> BU -> APAC.

Per client and event type: did the engagement the client's tier requires (QBRs, executive
reviews, health checks ...) happen in fiscal year N? Then how each territory, business unit
and the region stand. Steps (one Airflow task each, see dags/planning_compliance_sync.py):
check_sources -> stage the four levels (include/sql/planning_compliance/01..04) ->
validate_staged (Great Expectations) -> publish (one transaction) -> summary with warnings
(05_report_warnings.sql). Figure definitions and bad-input decisions: docs/compliance.md.
"""

from __future__ import annotations

import logging
import time

import psycopg
from psycopg import sql as psql

from finsync import sql
from finsync.gate import Check, GateError
from finsync.gate import run as run_gate
from finsync.planning.common import PlanningRun, fetch_frame, reconcile
from finsync.planning.sync import Level
from finsync.publish import Target
from finsync.warehouse import one

log = logging.getLogger(__name__)
AREA = "planning_compliance"

SOURCE_TABLES = (
    "clients",
    "cse_territory_map",
    "territory_bu_map",
    "finsync_client_hierarchy",
    "segmentation_tiers",
    "client_segmentation",
    "segmentation_event_types",
    "tier_event_requirements",
    "segmentation_events",
    "segmentation_event_compliance",
    "account_plans",
    "territory_strategies",
    "planning_kpi_targets",
)


LEVELS = (
    Level(
        "client",
        "01_stage_client_requirements.sql",
        "account_plan_event_requirements",
        ("client_id", "event_type_id"),
        None,
    ),
    Level(
        "territory",
        "02_rollup_territory.sql",
        "territory_compliance_summary",
        ("territory",),
        "territory",
    ),
    Level(
        "business_unit",
        "03_rollup_business_unit.sql",
        "business_unit_compliance",
        ("business_unit",),
        "business_unit",
    ),
    Level("apac", "04_rollup_apac.sql", "apac_compliance", (), None),
)

TARGETS = (
    Target(
        "account_plan_event_requirements",
        "account_plan_event_requirements",
        ("client_id", "fiscal_year", "event_type_id"),
    ),
    Target(
        "territory_compliance_summary", "territory_compliance_summary", ("territory", "fiscal_year")
    ),
    Target(
        "business_unit_planning",
        "business_unit_compliance",
        ("business_unit", "fiscal_year"),
        shared=True,
        stamp_columns=("compliance_synced_at", "synced_at"),
    ),
    Target(
        "apac_planning_goals",
        "apac_compliance",
        ("fiscal_year",),
        shared=True,
        stamp_columns=("compliance_synced_at", "synced_at"),
    ),
)

STATUSES = ("critical", "at_risk", "compliant", "exceeded")

# What a (client, event type) row contributes to the territory's pair figures. Credited is
# recomputed from completed and required, so a wrong credited_count cannot reconcile.
_PAIR_SUMS = {
    "count_compliance_pairs": "1",
    "count_pairs_critical": "(status = 'critical')::int",
    "count_pairs_at_risk": "(status = 'at_risk')::int",
    "count_pairs_compliant": "(status = 'compliant')::int",
    "count_pairs_exceeded": "(status = 'exceeded')::int",
    "count_required_events": "required_count",
    "count_credited_events": "greatest(least(completed_count, required_count), 0)",
    "count_completed_events": "completed_count",
    "count_scheduled_events": "scheduled_count",
}
PAIR_COLUMNS = tuple(_PAIR_SUMS)

# Figures that are plain sums from territory to business unit to APAC, exactly.
ROLLUP_COLUMNS = (
    "count_compliance_pairs",
    "count_pairs_critical",
    "count_pairs_at_risk",
    "count_pairs_compliant",
    "count_pairs_exceeded",
    "count_required_events",
    "count_credited_events",
    "count_segmented_clients",
    "count_unsegmented_clients",
    "count_clients_compliance_at_risk",
    "count_clients_plan_approved",
    "count_territory_strategies_approved",
)
_TERRITORY_SUMS = {"count_territory_strategies_approved": "(strategy_status = 'approved')::int"}

# Percentages that must lie in a range at every level where they occur (min, max).
_RANGES = {
    "compliance_pct": (0, 100),  # territory (client rows: see _client_checks)
    "overall_compliance_percentage": (0, 100),
    "actual_compliance": (0, 100),
    "planning_coverage_pct": (0, 100),
}


def _client_checks() -> list[Check]:
    """Per (client, event type): the contract's figures hold together."""
    return [
        Check("not_null", "client_id"),
        Check("not_null", "event_type_id"),
        Check("compound_unique", kwargs={"column_list": ["client_id", "event_type_id"]}),
        Check("not_null", "territory"),
        Check("not_null", "business_unit"),
        Check("between", "required_count", {"min_value": 1}),
        Check("between", "credited_count", {"min_value": 0}),
        Check("between", "remaining_count", {"min_value": 0}),
        Check("between", "scheduled_count", {"min_value": 0}),
        Check("not_null", "compliance_pct"),
        # Negative only where adjustments took completed below zero (a reported warning).
        Check(
            "between",
            "compliance_pct",
            {"min_value": 0, "row_condition": "completed_count>=0", "condition_parser": "pandas"},
        ),
        Check("not_null", "status"),
        Check("in_set", "status", {"value_set": list(STATUSES)}),
    ]


def _level_frame(conn: psycopg.Connection, level: Level, params: dict):
    table = psql.Identifier("finsync_stage", level.stage_table)
    present = {
        r[0]
        for r in conn.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'finsync_stage' and table_name = %s",
            (level.stage_table,),
        )
    }
    numeric = [c for c in _RANGES if c in present]
    extra = {
        "client": [
            "territory",
            "business_unit",
            "required_count",
            "credited_count",
            "remaining_count",
            "scheduled_count",
            "completed_count",
            "status",
        ],
        "territory": [
            "count_clients",
            "count_segmented_clients",
            "count_unsegmented_clients",
            "compliance_status",
        ],
        "apac": ["count_segmented_clients", "count_unsegmented_clients"],
    }.get(level.name, [])
    keys = list(level.keys) or ["fiscal_year"]
    select = psql.SQL(", ").join(
        [psql.Identifier(c) for c in keys]
        + [psql.SQL("{c}::float8 as {c}").format(c=psql.Identifier(c)) for c in numeric]
        + [psql.Identifier(c) for c in extra]
    )
    query = psql.SQL("select {} from {} where run_id = %(run_id)s").format(select, table)
    return fetch_frame(conn, query, params), keys, numeric


def validate(conn: psycopg.Connection, run: PlanningRun) -> dict[str, int]:
    """The Great Expectations gate over all four staged levels; raises GateError."""
    started = time.perf_counter()
    params = run.sql_params()
    failures = []
    client_count = one(conn.execute("select count(*) from clients"))[0]
    staged_rows: dict[str, int] = {}
    for level in LEVELS:
        frame, keys, numeric = _level_frame(conn, level, params)
        staged_rows[level.name] = len(frame)
        if level.name == "client":
            checks = _client_checks()
        else:
            checks = [Check("not_null", k) for k in keys] + [Check("unique", k) for k in keys]
            checks += [
                Check("between", c, {"min_value": _RANGES[c][0], "max_value": _RANGES[c][1]})
                for c in numeric
            ]
        if level.name == "territory":
            # Every client of the territory is either segmented or not, never both or neither.
            frame["unaccounted_clients"] = (
                frame["count_clients"]
                - frame["count_segmented_clients"]
                - frame["count_unsegmented_clients"]
            )
            checks += [
                Check("between", "unaccounted_clients", {"min_value": 0, "max_value": 0}),
                Check("in_set", "compliance_status", {"value_set": list(STATUSES)}),
            ]
        if level.name == "apac":
            # Every client accounted for: segmented + unsegmented = the clients in `clients`.
            frame["accounted_clients"] = (
                frame["count_segmented_clients"] + frame["count_unsegmented_clients"]
            )
            checks += [
                Check("row_count", kwargs={"value": 1}),
                Check(
                    "between",
                    "accounted_clients",
                    {"min_value": client_count, "max_value": client_count},
                ),
            ]
        failures += run_gate(f"{level.name}_compliance", frame, checks, keys)
    client, territory, business_unit, apac = LEVELS
    failures += reconcile(conn, client, territory, PAIR_COLUMNS, params, _PAIR_SUMS)
    failures += reconcile(conn, territory, business_unit, ROLLUP_COLUMNS, params, _TERRITORY_SUMS)
    failures += reconcile(conn, business_unit, apac, ROLLUP_COLUMNS, params)
    log.info("gate took %.2f s", time.perf_counter() - started)
    if failures:
        raise GateError(failures)
    return staged_rows


def _plain(value):
    if value is None or isinstance(value, int):
        return value
    return float(value)


def warnings(conn: psycopg.Connection, run: PlanningRun) -> dict[str, tuple[int, list[str]]]:
    """Reported, not errors: kind -> (row count, up to 10 example rows); 05_report_warnings.sql."""
    rows = conn.execute(sql.load(AREA, "05_report_warnings.sql"), run.sql_params()).fetchall()
    return {kind: (count, list(examples)) for kind, count, examples in rows}


_WARNING_ADVICE = {
    "clients_without_tier": "no client_segmentation row in force on the as-of date: counted as "
    "unsegmented; add their tier",
    "superseded_segmentation_rows": "older tier rows still open although a newer one is in force "
    "(the newer one counts); close them with effective_to",
    "events_of_unrequired_type": "events of an event type no tier requires: they count towards "
    "nothing; check tier_event_requirements",
    "adjustments_of_unrequired_type": "adjustments of an event type no tier requires: they count "
    "towards nothing",
    "negative_completed_count": "adjustments take completed below zero: credited as 0 in the "
    "roll-ups; check segmentation_event_compliance",
    "rolled_up_to_unassigned": "CSE or territory without a mapping: rolled up to Unassigned; add "
    "it to cse_territory_map / territory_bu_map",
}


def summary_metrics(conn: psycopg.Connection, run: PlanningRun) -> tuple[dict, dict]:
    """Key APAC figures from this run's staging, and the warnings with example rows."""
    row = one(
        conn.execute(
            """
        select actual_compliance, target_compliance, compliance_gap, count_compliance_pairs,
               count_pairs_critical, count_pairs_at_risk, count_pairs_compliant,
               count_pairs_exceeded, count_clients_compliance_at_risk, count_segmented_clients,
               count_unsegmented_clients, planning_coverage_pct,
               count_territory_strategies_approved
        from finsync_stage.apac_compliance where run_id = %s
        """,
            (run.run_id,),
        )
    )
    names = (
        "actual_compliance_pct",
        "target_compliance_pct",
        "compliance_gap",
        "pairs",
        "pairs_critical",
        "pairs_at_risk",
        "pairs_compliant",
        "pairs_exceeded",
        "clients_at_risk",
        "segmented_clients",
        "unsegmented_clients",
        "planning_coverage_pct",
        "strategies_approved",
    )
    metrics = {n: _plain(v) for n, v in zip(names, row, strict=True)}
    notes = {}
    for kind, (count, examples) in warnings(conn, run).items():
        more = f" and {count - len(examples)} more" if count > len(examples) else ""
        notes[kind] = f"{count}: " + "; ".join(examples) + more
        log.warning(
            "%d row(s): %s, e.g. %s%s",
            count,
            _WARNING_ADVICE.get(kind, kind),
            "; ".join(examples),
            more,
        )
    return metrics, notes


__all__ = [
    "AREA",
    "LEVELS",
    "TARGETS",
    "PAIR_COLUMNS",
    "ROLLUP_COLUMNS",
    "validate",
    "summary_metrics",
    "warnings",
    "GateError",
]
