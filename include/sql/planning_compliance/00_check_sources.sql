-- Rows the compliance run would read that break the finance data contract (or make a figure
-- ambiguous). One row per (table, rule) with the number of offending rows and up to 10 of
-- their keys; any row here stops the run before anything is staged or written.
-- Windows: events dated inside fiscal year N, adjustments and plans of year N, segmentation
-- rows in force on the as-of date D; the small reference tables entirely.
-- Not errors (reported as warnings in the run summary, see 05_report_warnings.sql): events and
-- adjustments of an event type no requirement mentions, clients without a tier on D, older
-- segmentation rows still open when a newer one is in force.
with
segmentation_in_force as (
    select
        client_id,
        tier_id,
        effective_from,
        effective_to,
        count(*) over (partition by client_id, effective_from) as count_same_start,
        rank() over (partition by client_id order by effective_from desc) as start_rank
    from client_segmentation
    where
        effective_from <= %(as_of_date)s
        and (effective_to is null or effective_to >= %(as_of_date)s)
),

events_in_year as (
    select event_id, client_id, event_type_id, event_date, status
    from segmentation_events
    where event_date between %(year_start)s and %(year_end)s
),

violations as (
    select 'clients' as table_name, 'client_id must be present and unique' as rule,
        concat('client_id=', client_id) as row_ref
    from clients
    group by client_id
    having client_id is null or count(*) > 1

    -- Every later branch takes its column names from the first one.
    -- noqa: disable=AL03
    union all
    select 'segmentation_tiers', 'tier_id must be present and unique', concat('tier_id=', tier_id)
    from segmentation_tiers
    group by tier_id
    having tier_id is null or count(*) > 1

    union all
    select
        'segmentation_event_types',
        'event_type_id must be present and unique',
        concat('event_type_id=', event_type_id)
    from segmentation_event_types
    group by event_type_id
    having event_type_id is null or count(*) > 1

    union all
    select
        'tier_event_requirements',
        'tier_id must exist in segmentation_tiers',
        concat('tier_id=', r.tier_id, ' event_type_id=', r.event_type_id)
    from tier_event_requirements as r
    where not exists (select 1 from segmentation_tiers as t where t.tier_id = r.tier_id)

    union all
    select
        'tier_event_requirements',
        'event_type_id must exist in segmentation_event_types',
        concat('tier_id=', r.tier_id, ' event_type_id=', r.event_type_id)
    from tier_event_requirements as r
    where
        not exists (
            select 1 from segmentation_event_types as e where e.event_type_id = r.event_type_id
        )

    union all
    select
        'tier_event_requirements',
        'one row per (tier_id, event_type_id)',
        concat('tier_id=', tier_id, ' event_type_id=', event_type_id)
    from tier_event_requirements
    group by tier_id, event_type_id
    having count(*) > 1

    union all
    select
        'tier_event_requirements',
        'required_per_year must be present and not negative',
        concat('tier_id=', tier_id, ' event_type_id=', event_type_id,
            ' required_per_year=', required_per_year)
    from tier_event_requirements
    where required_per_year is null or required_per_year < 0

    union all
    -- Rule: the tier in force is the row with the latest effective_from on or before D; two
    -- rows in force sharing that latest effective_from leave the tier ambiguous.
    select
        'client_segmentation',
        'one tier in force on the as-of date (no two rows with the same latest effective_from)',
        concat('client_id=', client_id, ' tier_id=', tier_id, ' effective_from=',
            effective_from, ' effective_to=', effective_to)
    from segmentation_in_force
    where start_rank = 1 and count_same_start > 1

    union all
    select
        'client_segmentation',
        'tier_id must exist in segmentation_tiers',
        concat('client_id=', s.client_id, ' tier_id=', s.tier_id, ' effective_from=',
            s.effective_from)
    from segmentation_in_force as s
    where not exists (select 1 from segmentation_tiers as t where t.tier_id = s.tier_id)

    union all
    select
        'client_segmentation',
        'client_id must exist in clients',
        concat('client_id=', s.client_id, ' tier_id=', s.tier_id, ' effective_from=',
            s.effective_from)
    from segmentation_in_force as s
    where not exists (select 1 from clients as c where c.client_id = s.client_id)

    union all
    select
        'client_segmentation',
        'effective_from must be present and not after effective_to',
        concat('client_id=', client_id, ' tier_id=', tier_id, ' effective_from=',
            effective_from, ' effective_to=', effective_to)
    from client_segmentation
    where effective_from is null or effective_to < effective_from

    union all
    select
        'segmentation_events',
        'status must be completed, scheduled or cancelled',
        concat('event_id=', event_id, ' status=', status)
    from events_in_year
    where status is null or status not in ('completed', 'scheduled', 'cancelled')

    union all
    select
        'segmentation_events',
        'event_id must be present and unique',
        concat('event_id=', event_id)
    from events_in_year
    group by event_id
    having event_id is null or count(*) > 1

    union all
    select
        'segmentation_events',
        'client_id must exist in clients',
        concat('event_id=', e.event_id, ' client_id=', e.client_id)
    from events_in_year as e
    where not exists (select 1 from clients as c where c.client_id = e.client_id)

    union all
    select
        'segmentation_events',
        'event_date must be present',
        concat('event_id=', event_id)
    from segmentation_events
    where event_date is null

    union all
    select
        'segmentation_event_compliance',
        'one row per (client_id, event_type_id, fiscal_year)',
        concat('client_id=', client_id, ' event_type_id=', event_type_id,
            ' fiscal_year=', fiscal_year)
    from segmentation_event_compliance
    where fiscal_year = %(fiscal_year)s
    group by client_id, event_type_id, fiscal_year
    having count(*) > 1

    union all
    select
        'segmentation_event_compliance',
        'adjustment_count must be present',
        concat('client_id=', client_id, ' event_type_id=', event_type_id,
            ' fiscal_year=', fiscal_year)
    from segmentation_event_compliance
    where fiscal_year = %(fiscal_year)s and adjustment_count is null

    union all
    select
        'segmentation_event_compliance',
        'client_id must exist in clients',
        concat('client_id=', a.client_id, ' event_type_id=', a.event_type_id,
            ' fiscal_year=', a.fiscal_year)
    from segmentation_event_compliance as a
    where
        a.fiscal_year = %(fiscal_year)s
        and not exists (select 1 from clients as c where c.client_id = a.client_id)

    union all
    select
        'account_plans',
        'status must be draft, in_review or approved',
        concat('plan_id=', plan_id, ' status=', status)
    from account_plans
    where
        fiscal_year = %(fiscal_year)s
        and (status is null or status not in ('draft', 'in_review', 'approved'))

    union all
    select
        'territory_strategies',
        'one row per (territory, fiscal_year) with status draft, in_review or approved',
        concat('territory=', territory, ' status=', min(status))
    from territory_strategies
    where fiscal_year = %(fiscal_year)s
    group by territory
    having
        count(*) > 1
        or bool_or(status is null or status not in ('draft', 'in_review', 'approved'))

    union all
    select
        'planning_kpi_targets',
        'one compliance target per (fiscal_year, business_unit), from 0 to 100',
        concat('business_unit=', coalesce(business_unit, '(region)'), ' target_value=',
            min(target_value))
    from planning_kpi_targets
    where fiscal_year = %(fiscal_year)s and metric = 'compliance'
    group by business_unit
    having count(*) > 1 or bool_or(target_value is null or target_value not between 0 and 100)
    -- noqa: enable=AL03
)

select
    table_name,
    rule,
    count(*) as row_count,
    (array_agg(row_ref order by row_ref))[1:10] as examples
from violations
group by table_name, rule
order by table_name, rule
