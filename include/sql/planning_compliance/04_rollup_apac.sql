-- Region level (APAC): the compliance columns of apac_planning_goals, summed from this run's
-- business-unit rows; the target is the region's compliance KPI (business_unit null).
-- Writes only the compliance sync's columns (the financials sync owns the others).
insert into finsync_stage.apac_compliance (
    run_id, fiscal_year, compliance_as_of_date, actual_compliance, target_compliance,
    compliance_gap, count_compliance_pairs, count_pairs_critical, count_pairs_at_risk,
    count_pairs_compliant, count_pairs_exceeded, count_required_events, count_credited_events,
    count_segmented_clients, count_unsegmented_clients, count_clients_compliance_at_risk,
    count_clients_plan_approved, planning_coverage_pct, count_territory_strategies_approved
)
with
unit_rows as (
    select *
    from finsync_stage.business_unit_compliance
    where run_id = %(run_id)s
),

kpi as (
    select max(target_value) as target_compliance
    from planning_kpi_targets
    where fiscal_year = %(fiscal_year)s and business_unit is null and metric = 'compliance'
),

sums as (
    select
        coalesce(sum(count_compliance_pairs), 0) as count_compliance_pairs,
        coalesce(sum(count_pairs_critical), 0) as count_pairs_critical,
        coalesce(sum(count_pairs_at_risk), 0) as count_pairs_at_risk,
        coalesce(sum(count_pairs_compliant), 0) as count_pairs_compliant,
        coalesce(sum(count_pairs_exceeded), 0) as count_pairs_exceeded,
        coalesce(sum(count_required_events), 0) as count_required_events,
        coalesce(sum(count_credited_events), 0) as count_credited_events,
        coalesce(sum(count_segmented_clients), 0) as count_segmented_clients,
        coalesce(sum(count_unsegmented_clients), 0) as count_unsegmented_clients,
        coalesce(sum(count_clients_compliance_at_risk), 0) as count_clients_compliance_at_risk,
        coalesce(sum(count_clients_plan_approved), 0) as count_clients_plan_approved,
        coalesce(sum(count_territory_strategies_approved), 0)
            as count_territory_strategies_approved
    from unit_rows
),

actual as (
    -- Rule: compliance = 100 x sum(min(completed, required)) / sum(required) over the pairs.
    select
        s.*,
        round(finsync_rules.share_pct(s.count_credited_events, s.count_required_events), 2)
            as actual_compliance
    from sums as s
)

select
    %(run_id)s as run_id,
    %(fiscal_year)s as fiscal_year,
    %(as_of_date)s as compliance_as_of_date,
    a.actual_compliance,
    k.target_compliance,
    -- Gap to the region's target: target minus actual (positive = still to close).
    k.target_compliance - a.actual_compliance as compliance_gap,
    a.count_compliance_pairs,
    a.count_pairs_critical,
    a.count_pairs_at_risk,
    a.count_pairs_compliant,
    a.count_pairs_exceeded,
    a.count_required_events,
    a.count_credited_events,
    a.count_segmented_clients,
    a.count_unsegmented_clients,
    a.count_clients_compliance_at_risk,
    a.count_clients_plan_approved,
    finsync_rules.share_pct(
        a.count_clients_plan_approved, a.count_segmented_clients + a.count_unsegmented_clients
    ) as planning_coverage_pct,
    a.count_territory_strategies_approved
from actual as a
cross join kpi as k
