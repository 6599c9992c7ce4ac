-- Client level: one row per (client, event type) that the client's tier on the as-of date D
-- requires at least once in fiscal year N. Exact figures per the finance data contract
-- ("Compliance"); the extra columns per docs/compliance.md.
insert into finsync_stage.account_plan_event_requirements (
    run_id, client_id, fiscal_year, event_type_id, as_of_date, client_name, cse_name,
    territory, business_unit, region, is_unassigned, tier_id, tier_name, tier_effective_from,
    event_type_code, event_type_name, required_count, event_completed_count,
    adjustment_count, completed_count, credited_count, remaining_count, scheduled_count,
    cancelled_count, compliance_pct, status, last_completed_date, next_scheduled_date
)
with
source_clients as (
    select client_id, client_name, cse_name
    from clients
),

segmentation_rows as (
    select client_id, tier_id, effective_from
    from client_segmentation
    where
        effective_from <= %(as_of_date)s
        and (effective_to is null or effective_to >= %(as_of_date)s)
),

requirement_rows as (
    select tier_id, event_type_id, required_per_year
    from tier_event_requirements
),

event_rows as (
    -- Events dated inside fiscal year N, whatever D is.
    select client_id, event_type_id, event_date, status
    from segmentation_events
    where event_date between %(year_start)s and %(year_end)s
),

adjustment_rows as (
    select client_id, event_type_id, adjustment_count
    from segmentation_event_compliance
    where fiscal_year = %(fiscal_year)s
),

-- Where each client rolls up (unmapped CSEs and territories: 'Unassigned'), migration 007.
hierarchy as (
    select
        c.client_id,
        c.client_name,
        c.cse_name,
        h.territory,
        h.business_unit,
        h.region,
        h.is_unassigned
    from source_clients as c
    inner join finsync_client_hierarchy as h on h.client_id = c.client_id
),

tier_on_as_of_date as (
    -- Rule: the client's tier is the segmentation row in force on D (effective_from <= D and
    -- effective_to null or >= D) with the latest effective_from. A change dated after D does
    -- not count yet; an older row left open is superseded by the newer one.
    select distinct on (client_id) client_id, tier_id, effective_from
    from segmentation_rows
    order by client_id, effective_from desc
),

pairs as (
    -- Rule: pairs whose tier requires 0 events are not written.
    select
        t.client_id,
        t.tier_id,
        t.effective_from as tier_effective_from,
        r.event_type_id,
        r.required_per_year as required_count
    from tier_on_as_of_date as t
    inner join requirement_rows as r on r.tier_id = t.tier_id
    where r.required_per_year > 0
),

event_counts as (
    -- Completed: every completed event of year N. Scheduled: still scheduled and dated on or
    -- after D. Cancelled events never count.
    select
        client_id,
        event_type_id,
        count(*) filter (where status = 'completed') as event_completed_count,
        count(*) filter (
            where status = 'scheduled' and event_date >= %(as_of_date)s
        ) as scheduled_count,
        count(*) filter (where status = 'cancelled') as cancelled_count,
        max(event_date) filter (where status = 'completed') as last_completed_date,
        min(event_date) filter (
            where status = 'scheduled' and event_date >= %(as_of_date)s
        ) as next_scheduled_date
    from event_rows
    group by client_id, event_type_id
),

counted as (
    select
        p.client_id,
        p.event_type_id,
        p.tier_id,
        p.tier_effective_from,
        p.required_count,
        coalesce(e.event_completed_count, 0) as event_completed_count,
        coalesce(a.adjustment_count, 0) as adjustment_count,
        -- Rule: completed = completed events of year N plus the manual adjustment (which may be
        -- negative, so completed may be too).
        coalesce(e.event_completed_count, 0) + coalesce(a.adjustment_count, 0) as completed_count,
        coalesce(e.scheduled_count, 0) as scheduled_count,
        coalesce(e.cancelled_count, 0) as cancelled_count,
        e.last_completed_date,
        e.next_scheduled_date
    from pairs as p
    left join event_counts as e
        on e.client_id = p.client_id and e.event_type_id = p.event_type_id
    left join adjustment_rows as a
        on a.client_id = p.client_id and a.event_type_id = p.event_type_id
)

select
    %(run_id)s as run_id,
    c.client_id,
    %(fiscal_year)s as fiscal_year,
    c.event_type_id,
    %(as_of_date)s as as_of_date,
    h.client_name,
    h.cse_name,
    h.territory,
    h.business_unit,
    h.region,
    h.is_unassigned,
    c.tier_id,
    st.tier_name,
    c.tier_effective_from,
    et.code as event_type_code,
    et.name as event_type_name,
    c.required_count,
    c.event_completed_count,
    c.adjustment_count,
    c.completed_count,
    -- Credited: what counts towards the roll-ups, capped at the requirement and at 0, so
    -- over-delivery on one event type never hides a miss on another.
    greatest(least(c.completed_count, c.required_count), 0) as credited_count,
    c.required_count - greatest(least(c.completed_count, c.required_count), 0) as remaining_count,
    c.scheduled_count,
    c.cancelled_count,
    finsync_rules.share_pct(c.completed_count, c.required_count) as compliance_pct,
    -- Rule (per cent of required): critical < 50, at_risk 50 to < 80, compliant 80 to < 100,
    -- exceeded >= 100 (compared exactly, before rounding).
    finsync_rules.compliance_status(c.completed_count, c.required_count) as status,
    c.last_completed_date,
    c.next_scheduled_date
from counted as c
inner join hierarchy as h on h.client_id = c.client_id
left join segmentation_tiers as st on st.tier_id = c.tier_id
left join segmentation_event_types as et on et.event_type_id = c.event_type_id
