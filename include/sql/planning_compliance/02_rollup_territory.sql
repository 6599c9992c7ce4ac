-- Territory level: every mapped territory (and 'Unassigned' when clients roll up to it).
-- Pair figures are summed from this run's client rows; client figures count every client in
-- `clients`, including those without a tier on the as-of date D (docs/compliance.md).
insert into finsync_stage.territory_compliance_summary (
    run_id, territory, fiscal_year, as_of_date, business_unit, region, is_unassigned,
    count_clients, count_segmented_clients, count_unsegmented_clients,
    count_clients_no_requirements, count_clients_critical, count_clients_at_risk,
    count_clients_compliant, count_clients_exceeded, count_clients_compliance_at_risk,
    count_compliance_pairs, count_pairs_critical, count_pairs_at_risk, count_pairs_compliant,
    count_pairs_exceeded, count_required_events, count_credited_events, count_completed_events,
    count_scheduled_events, compliance_pct, compliance_status, count_clients_plan_approved,
    planning_coverage_pct, strategy_status
)
with
pair_rows as (
    select
        client_id, territory, status, required_count, credited_count, completed_count,
        scheduled_count
    from finsync_stage.account_plan_event_requirements
    where run_id = %(run_id)s
),

source_clients as (
    select client_id, cse_name
    from clients
),

segmented_clients as (
    -- A client is segmented when a segmentation row is in force on D (the tier rule of
    -- 01_stage_client_requirements.sql then picks one).
    select distinct client_id
    from client_segmentation
    where
        effective_from <= %(as_of_date)s
        and (effective_to is null or effective_to >= %(as_of_date)s)
),

approved_plans as (
    select distinct client_id
    from account_plans
    where fiscal_year = %(fiscal_year)s and status = 'approved'
),

strategies as (
    select territory, min(status) as status
    from territory_strategies
    where fiscal_year = %(fiscal_year)s
    group by territory
),

-- Where each client rolls up (unmapped CSEs and territories: 'Unassigned'), migration 007.
hierarchy as (
    select h.client_id, h.territory, h.business_unit, h.region, h.is_unassigned
    from source_clients as c
    inner join finsync_client_hierarchy as h on h.client_id = c.client_id
),

client_pair_sums as (
    select client_id, sum(required_count) as required_count, sum(credited_count) as credited_count
    from pair_rows
    group by client_id
),

client_rows as (
    -- A client's own status: the capped formula over its pairs, with the pair thresholds;
    -- 'no_requirements' when its tier requires nothing, 'unsegmented' without a tier.
    select
        h.client_id,
        h.territory,
        h.business_unit,
        h.region,
        h.is_unassigned,
        s.client_id is not null as is_segmented,
        ap.client_id is not null as is_plan_approved,
        case
            when s.client_id is null then 'unsegmented'
            when p.required_count is null then 'no_requirements'
            else finsync_rules.compliance_status(p.credited_count, p.required_count)
        end as client_status
    from hierarchy as h
    left join segmented_clients as s on s.client_id = h.client_id
    left join approved_plans as ap on ap.client_id = h.client_id
    left join client_pair_sums as p on p.client_id = h.client_id
),

territories as (
    select territory, business_unit, region, false as is_unassigned
    from territory_bu_map
    union
    select distinct territory, business_unit, region, true as is_unassigned
    from client_rows
    where is_unassigned
),

client_sums as (
    select
        territory,
        count(*) as count_clients,
        count(*) filter (where is_segmented) as count_segmented_clients,
        count(*) filter (where not is_segmented) as count_unsegmented_clients,
        count(*) filter (where client_status = 'no_requirements') as count_clients_no_requirements,
        count(*) filter (where client_status = 'critical') as count_clients_critical,
        count(*) filter (where client_status = 'at_risk') as count_clients_at_risk,
        count(*) filter (where client_status = 'compliant') as count_clients_compliant,
        count(*) filter (where client_status = 'exceeded') as count_clients_exceeded,
        count(*) filter (where is_plan_approved) as count_clients_plan_approved
    from client_rows
    group by territory
),

pair_sums as (
    select
        territory,
        count(*) as count_compliance_pairs,
        count(*) filter (where status = 'critical') as count_pairs_critical,
        count(*) filter (where status = 'at_risk') as count_pairs_at_risk,
        count(*) filter (where status = 'compliant') as count_pairs_compliant,
        count(*) filter (where status = 'exceeded') as count_pairs_exceeded,
        sum(required_count) as count_required_events,
        sum(credited_count) as count_credited_events,
        sum(completed_count) as count_completed_events,
        sum(scheduled_count) as count_scheduled_events
    from pair_rows
    group by territory
)

select
    %(run_id)s as run_id,
    t.territory,
    %(fiscal_year)s as fiscal_year,
    %(as_of_date)s as as_of_date,
    t.business_unit,
    t.region,
    t.is_unassigned,
    coalesce(c.count_clients, 0) as count_clients,
    coalesce(c.count_segmented_clients, 0) as count_segmented_clients,
    coalesce(c.count_unsegmented_clients, 0) as count_unsegmented_clients,
    coalesce(c.count_clients_no_requirements, 0) as count_clients_no_requirements,
    coalesce(c.count_clients_critical, 0) as count_clients_critical,
    coalesce(c.count_clients_at_risk, 0) as count_clients_at_risk,
    coalesce(c.count_clients_compliant, 0) as count_clients_compliant,
    coalesce(c.count_clients_exceeded, 0) as count_clients_exceeded,
    -- Clients at risk: a client whose own status is critical or at_risk.
    coalesce(c.count_clients_critical + c.count_clients_at_risk, 0)
        as count_clients_compliance_at_risk,
    coalesce(p.count_compliance_pairs, 0) as count_compliance_pairs,
    coalesce(p.count_pairs_critical, 0) as count_pairs_critical,
    coalesce(p.count_pairs_at_risk, 0) as count_pairs_at_risk,
    coalesce(p.count_pairs_compliant, 0) as count_pairs_compliant,
    coalesce(p.count_pairs_exceeded, 0) as count_pairs_exceeded,
    coalesce(p.count_required_events, 0) as count_required_events,
    coalesce(p.count_credited_events, 0) as count_credited_events,
    coalesce(p.count_completed_events, 0) as count_completed_events,
    coalesce(p.count_scheduled_events, 0) as count_scheduled_events,
    -- Rule: compliance = 100 x sum(min(completed, required)) / sum(required) over the pairs.
    finsync_rules.share_pct(p.count_credited_events, p.count_required_events) as compliance_pct,
    finsync_rules.compliance_status(p.count_credited_events, p.count_required_events)
        as compliance_status,
    coalesce(c.count_clients_plan_approved, 0) as count_clients_plan_approved,
    -- Planning coverage: the share of the territory's clients with an approved account plan.
    finsync_rules.share_pct(c.count_clients_plan_approved, c.count_clients)
        as planning_coverage_pct,
    coalesce(st.status, 'missing') as strategy_status
from territories as t
left join client_sums as c on c.territory = t.territory
left join pair_sums as p on p.territory = t.territory
left join strategies as st on st.territory = t.territory
