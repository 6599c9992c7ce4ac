"""
### Planning compliance sync

Per client and event type: did the engagement the client's segmentation tier requires (QBRs,
executive reviews, health checks ...) happen in the fiscal year? Rolled up **client →
territory → business unit → APAC** as set-based SQL (`include/sql/planning_compliance/`),
gated by Great Expectations and published in one transaction.

**Params**: `fiscal_year` (default: the fiscal year holding the logical date), `as_of_date`
(`YYYY-MM-DD`, default: the earlier of the logical date and the year's last day; the tier in
force on that day counts), `dry_run`.

**Reads**: `clients`, `client_segmentation`, `segmentation_tiers`, `segmentation_event_types`,
`tier_event_requirements`, `segmentation_events`, `segmentation_event_compliance`,
`account_plans`, `territory_strategies`, `planning_kpi_targets` and the hierarchy maps.

**Writes**: `account_plan_event_requirements`, `territory_compliance_summary` and the
compliance columns of `business_unit_planning` and `apac_planning_goals` (the financials sync
owns the others). Unchanged rows are not touched. Definitions: `docs/compliance.md`.

**Schedule**: daily for the current fiscal year. `airflow backfill create` over a date range
makes one run per fiscal year (its last day).

**When it fails** (triage):
- `check_sources` failed: the message names the table, the broken rule and example rows
  (two tier rows starting the same day for one client, a requirement for a tier or event type
  that does not exist, an event status outside completed/scheduled/cancelled, a duplicate
  event_id). Fix the source rows and re-run. Nothing was written.
- `validate_staged` failed: a Great Expectations gate caught staged figures that do not
  reconcile or are out of range; the message names the expectation and rows. Nothing was
  written; report it with the message.
- Warnings (not failures) are in the `report_summary` log and XCom: clients without a tier,
  events of an event type no tier requires, adjustments taking a count below zero, clients
  rolled up to *Unassigned*. Fix the sources when they are not intended.
- Connection errors are retried with exponential back-off; check the `finsync_warehouse`
  connection if they persist.
"""

from __future__ import annotations

from finsync.planning.dag import planning_dag

# The Airflow DAG: the planning DAGs' shared shape (finsync/planning/dag.py) with this sync.
planning_dag(
    dag_id="planning_compliance_sync",
    sync="compliance",
    stage_client="stage_client_requirements",
    publish="publish_compliance",
    writes=(
        "account_plan_event_requirements",
        "territory_compliance_summary",
        "business_unit_planning",
        "apac_planning_goals",
    ),
    as_of_description="As-of date YYYY-MM-DD (the tier in force that day counts); empty = "
    "min(logical date, year end)",
    doc_md=__doc__,
    fileloc=__file__,
)
