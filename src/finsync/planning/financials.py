"""The planning financials sync: BURC figures rolled up client -> territory -> BU -> APAC.

Steps (one Airflow task each, see dags/planning_financials_sync.py):
check_sources -> stage the four levels (include/sql/planning_financials/01..04) ->
validate_staged (Great Expectations) -> publish (one transaction) -> summary.
"""

from __future__ import annotations

import logging
import time

import psycopg
from psycopg import sql as psql

from finsync.gate import Check, GateError
from finsync.gate import run as run_gate
from finsync.planning.common import PlanningRun, fetch_frame, reconcile
from finsync.planning.sync import Level
from finsync.publish import Target
from finsync.warehouse import one

log = logging.getLogger(__name__)
AREA = "planning_financials"

SOURCE_TABLES = (
    "clients",
    "cse_territory_map",
    "territory_bu_map",
    "finsync_client_hierarchy",
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
    "account_plans",
    "territory_strategies",
)


LEVELS = (
    Level(
        "client", "01_stage_client_financials.sql", "account_plan_financials", ("client_id",), None
    ),
    Level(
        "territory",
        "02_rollup_territory.sql",
        "territory_strategy_financials",
        ("territory",),
        "territory",
    ),
    Level(
        "business_unit",
        "03_rollup_business_unit.sql",
        "business_unit_financials",
        ("business_unit",),
        "business_unit",
    ),
    Level("apac", "04_rollup_apac.sql", "apac_financials", (), None),
)

TARGETS = (
    Target("account_plan_financials", "account_plan_financials", ("client_id", "fiscal_year")),
    Target(
        "territory_strategy_financials",
        "territory_strategy_financials",
        ("territory", "fiscal_year"),
    ),
    Target(
        "business_unit_planning",
        "business_unit_financials",
        ("business_unit", "fiscal_year"),
        shared=True,
        stamp_columns=("financials_synced_at", "synced_at"),
    ),
    Target(
        "apac_planning_goals",
        "apac_financials",
        ("fiscal_year",),
        shared=True,
        stamp_columns=("financials_synced_at", "synced_at"),
    ),
)

# Figures that are plain sums: each level must equal the sum of the level below, exactly.
ADDITIVE_COLUMNS = (
    "count_clients",
    "count_active_clients",
    "count_segment_giant",
    "count_segment_large",
    "count_segment_medium",
    "count_segment_small",
    "count_segment_other",
    "current_arr",
    "target_arr",
    "mrr",
    "gap_to_target",
    "prior_year_arr",
    "q1_arr",
    "q2_arr",
    "q3_arr",
    "q4_arr",
    "q1_target_arr",
    "q2_target_arr",
    "q3_target_arr",
    "q4_target_arr",
    "revenue_software",
    "revenue_ps",
    "revenue_maintenance",
    "revenue_hardware",
    "total_revenue",
    "revenue_to_date",
    "lifetime_value",
    "forecast_runrate",
    "forecast_business_case",
    "forecast_pipeline",
    "expansion_pipeline",
    "weighted_pipeline",
    "gap_closure_business_case",
    "gap_closure_pipeline",
    "starting_arr_3yr",
    "expansion_arr_3yr",
    "contraction_arr_3yr",
    "churned_arr_3yr",
    "ar_balance",
    "ar_current",
    "ar_overdue",
    "ar_over_90",
    "renewal_q1_value",
    "renewal_q2_value",
    "renewal_q3_value",
    "renewal_q4_value",
    "count_at_risk_clients",
    "arr_at_risk",
    "count_risk_low",
    "count_risk_medium",
    "count_risk_high",
    "count_risk_critical",
    "count_plans_approved",
    "count_plans_in_review",
    "count_plans_draft",
    "count_plans_missing",
)

# How a client row contributes to a count column of the levels above.
_CLIENT_COUNTS = {
    "count_clients": "1",
    "count_active_clients": "(client_status = 'active')::int",
    "count_segment_giant": "(segment = 'Giant')::int",
    "count_segment_large": "(segment = 'Large')::int",
    "count_segment_medium": "(segment = 'Medium')::int",
    "count_segment_small": "(segment = 'Small')::int",
    "count_segment_other": (
        "(segment is null or segment not in ('Giant', 'Large', 'Medium', 'Small'))::int"
    ),
    "count_at_risk_clients": "is_at_risk::int",
    "count_risk_low": "(attrition_risk_level = 'low')::int",
    "count_risk_medium": "(attrition_risk_level = 'medium')::int",
    "count_risk_high": "(attrition_risk_level = 'high')::int",
    "count_risk_critical": "(attrition_risk_level = 'critical')::int",
    "count_plans_approved": "(account_plan_status = 'approved')::int",
    "count_plans_in_review": "(account_plan_status = 'in_review')::int",
    "count_plans_draft": "(account_plan_status = 'draft')::int",
    "count_plans_missing": "(account_plan_status = 'missing')::int",
}

# Percentages and indices that must lie in a range at every level (min, max; None = open).
_RANGES = {
    "nrr_3yr": (0, None),
    "grr_3yr": (0, 100),
    "gap_coverage_pct": (0, None),
    "top_clients_arr_share_pct": (0, 100),
    "arr_hhi": (0, 10000),
    "plan_coverage_pct": (0, 100),
    "bu_contribution_pct": (0, 100),
    "avg_health_score": (0, 100),
    "health_score": (0, 100),
}


def validate(conn: psycopg.Connection, run: PlanningRun) -> dict[str, int]:
    """The Great Expectations gate over all four staged levels; raises GateError."""
    started = time.perf_counter()
    params = run.sql_params()
    failures = []
    client_count = one(conn.execute("select count(*) from clients"))[0]
    staged_rows: dict[str, int] = {}
    for level in LEVELS:
        table = psql.Identifier("finsync_stage", level.stage_table)
        columns = conn.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'finsync_stage' and table_name = %s",
            (level.stage_table,),
        ).fetchall()
        present = {c[0] for c in columns}
        ranged = [c for c in _RANGES if c in present]
        keys = list(level.keys) or ["fiscal_year"]
        select = psql.SQL(", ").join(
            [psql.Identifier(c) for c in keys]
            + [psql.SQL("{c}::float8 as {c}").format(c=psql.Identifier(c)) for c in ranged]
            + (
                [psql.Identifier("territory"), psql.Identifier("business_unit")]
                if level.name == "client"
                else []
            )
        )
        frame = fetch_frame(
            conn,
            psql.SQL("select {} from {} where run_id = %(run_id)s").format(select, table),
            params,
        )
        staged_rows[level.name] = len(frame)
        checks = [Check("not_null", k) for k in keys] + [Check("unique", k) for k in keys]
        for column in ranged:
            low, high = _RANGES[column]
            checks.append(Check("between", column, {"min_value": low, "max_value": high}))
        if level.name == "client":
            # Every client accounted for: one row per client, each placed in the hierarchy.
            checks += [
                Check("row_count", kwargs={"value": client_count}),
                Check("not_null", "territory"),
                Check("not_null", "business_unit"),
            ]
        if level.name == "apac":
            checks.append(Check("row_count", kwargs={"value": 1}))
        failures += run_gate(f"{level.name}_financials", frame, checks, keys)
    for lower, upper in zip(LEVELS, LEVELS[1:], strict=False):
        lower_sums = _CLIENT_COUNTS if lower.name == "client" else None
        failures += reconcile(conn, lower, upper, ADDITIVE_COLUMNS, params, lower_sums)
    log.info("gate took %.2f s", time.perf_counter() - started)
    if failures:
        raise GateError(failures)
    return staged_rows


def summary_metrics(conn: psycopg.Connection, run: PlanningRun) -> tuple[dict, dict]:
    """Key APAC figures and the clients rolled up to Unassigned, from this run's staging."""
    row = one(
        conn.execute(
            """
        select current_arr, target_arr, gap_to_target, nrr_3yr, grr_3yr, arr_growth_pct,
               count_clients, count_unassigned_clients
        from finsync_stage.apac_financials where run_id = %s
        """,
            (run.run_id,),
        )
    )
    names = (
        "total_arr",
        "target_arr",
        "gap_to_target",
        "nrr_3yr_pct",
        "grr_3yr_pct",
        "arr_growth_pct",
        "clients",
        "unassigned_clients",
    )
    metrics = {
        n: (float(v) if v is not None and not isinstance(v, int) else v)
        for n, v in zip(names, row, strict=True)
    }
    unassigned = conn.execute(
        """
        select client_id, coalesce(cse_name, '(no CSE)')
        from finsync_stage.account_plan_financials
        where run_id = %s and is_unassigned
        order by client_id limit 20
        """,
        (run.run_id,),
    ).fetchall()
    notes = {}
    if metrics["unassigned_clients"]:
        shown = ", ".join(f"{c} (CSE {cse})" for c, cse in unassigned)
        more = metrics["unassigned_clients"] - len(unassigned)
        notes["rolled_up_to_unassigned"] = shown + (f" and {more} more" if more > 0 else "")
        log.warning(
            "%d client(s) have a CSE or territory without a mapping and rolled up to "
            "Unassigned: %s. "
            "Add the mapping to cse_territory_map / territory_bu_map.",
            metrics["unassigned_clients"],
            notes["rolled_up_to_unassigned"],
        )
    return metrics, notes


__all__ = [
    "AREA",
    "LEVELS",
    "TARGETS",
    "ADDITIVE_COLUMNS",
    "validate",
    "summary_metrics",
    "GateError",
]
