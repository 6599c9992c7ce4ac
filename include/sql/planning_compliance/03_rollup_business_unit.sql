-- Business-unit level: the compliance columns of business_unit_planning, summed from this
-- run's territory rows; percentages recomputed from the sums (docs/compliance.md).
-- Writes only the compliance sync's columns (the financials sync owns the others).
insert into finsync_stage.business_unit_compliance (
    run_id, business_unit, fiscal_year, compliance_as_of_date, overall_compliance_percentage,
    count_compliance_pairs, count_pairs_critical, count_pairs_at_risk, count_pairs_compliant,
    count_pairs_exceeded, count_required_events, count_credited_events,
    count_segmented_clients, count_unsegmented_clients, count_clients_compliance_at_risk,
    count_clients_plan_approved, planning_coverage_pct, count_territory_strategies_approved
)
with
territory_rows as (
    select *
    from finsync_stage.territory_compliance_summary
    where run_id = %(run_id)s
),

sums as (
    select
        business_unit,
        sum(count_compliance_pairs) as count_compliance_pairs,
        sum(count_pairs_critical) as count_pairs_critical,
        sum(count_pairs_at_risk) as count_pairs_at_risk,
        sum(count_pairs_compliant) as count_pairs_compliant,
        sum(count_pairs_exceeded) as count_pairs_exceeded,
        sum(count_required_events) as count_required_events,
        sum(count_credited_events) as count_credited_events,
        sum(count_segmented_clients) as count_segmented_clients,
        sum(count_unsegmented_clients) as count_unsegmented_clients,
        sum(count_clients_compliance_at_risk) as count_clients_compliance_at_risk,
        sum(count_clients_plan_approved) as count_clients_plan_approved,
        count(*) filter (where strategy_status = 'approved') as count_territory_strategies_approved
    from territory_rows
    group by business_unit
)

select
    %(run_id)s as run_id,
    business_unit,
    %(fiscal_year)s as fiscal_year,
    %(as_of_date)s as compliance_as_of_date,
    -- Rule: compliance = 100 x sum(min(completed, required)) / sum(required) over the pairs.
    finsync_rules.share_pct(count_credited_events, count_required_events)
        as overall_compliance_percentage,
    count_compliance_pairs,
    count_pairs_critical,
    count_pairs_at_risk,
    count_pairs_compliant,
    count_pairs_exceeded,
    count_required_events,
    count_credited_events,
    count_segmented_clients,
    count_unsegmented_clients,
    count_clients_compliance_at_risk,
    count_clients_plan_approved,
    -- Planning coverage: the share of the unit's clients with an approved account plan.
    finsync_rules.share_pct(
        count_clients_plan_approved, count_segmented_clients + count_unsegmented_clients
    ) as planning_coverage_pct,
    count_territory_strategies_approved
from sums
