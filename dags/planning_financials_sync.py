"""
### Planning financials sync

Rolls BURC figures (ARR, revenue by type, NRR/GRR, pipeline, contracts, AR aging, health,
P&L, KPI targets) up **client → territory → business unit → APAC** for one fiscal year, as
set-based SQL (`include/sql/planning_financials/`), and publishes them in one transaction.

**Params**: `fiscal_year` (default: the fiscal year holding the logical date), `as_of_date`
(`YYYY-MM-DD`, default: the earlier of the logical date and the year's last day), `dry_run`.

**Writes**: `account_plan_financials`, `territory_strategy_financials` and the financials
columns of `business_unit_planning` and `apac_planning_goals` (the compliance sync owns the
others). Unchanged rows are not touched. Metric definitions: `docs/metrics.md`.

**Schedule**: daily for the current fiscal year. `airflow backfill create` over a date range
makes one run per fiscal year (its last day).

**When it fails** (triage):
- `check_sources` failed: the message names the table, the broken rule and example rows
  (e.g. probability 1.5, fiscal_month 13, duplicate keys). Fix the source rows, re-run.
  Nothing was written.
- `validate_staged` failed: a Great Expectations gate caught staged figures that do not
  reconcile or are out of range; the message names the expectation and rows. Nothing was
  written; report it with the message.
- Clients whose CSE or territory has no mapping roll up to *Unassigned* and are listed in
  the summary: add them to `cse_territory_map` / `territory_bu_map`.
- Connection errors are retried with exponential back-off; check the `finsync_warehouse`
  connection if they persist.
"""

from __future__ import annotations

from finsync.planning.dag import planning_dag

# The Airflow DAG: the planning DAGs' shared shape (finsync/planning/dag.py) with this sync.
planning_dag(
    dag_id="planning_financials_sync",
    sync="financials",
    stage_client="stage_client_financials",
    publish="publish_financials",
    writes=(
        "account_plan_financials",
        "territory_strategy_financials",
        "business_unit_planning",
        "apac_planning_goals",
    ),
    as_of_description="As-of date YYYY-MM-DD; empty = min(logical date, year end)",
    doc_md=__doc__,
    fileloc=__file__,
)
