-- Demo engagement events, about 20 per client over three fiscal years. Rules:
-- - per client, seeded year and event type the number of events follows the requirement of
--   the tier in force at mid-year: required x the client's diligence (0.60 to 1.25), rounded
--   up or down at random; a type its tier does not require gets one event with chance 0.10;
-- - a type's events are spread through the year (one per equal slice of it), and a year's
--   first and last day are used now and then (chance 0.005 for the first and last event);
-- - the demo's "today" is the middle of the last seeded year: events after it are
--   'scheduled' (0.9) or 'cancelled'; earlier ones 'completed' (0.88), 'cancelled' (0.10)
--   or still 'scheduled' (0.02);
-- - a churned client has no events from its churn month on.
with params as (
    select
        %(seed)s::bigint as seed,
        %(first_year)s::int as first_year,
        %(last_year)s::int as last_year,
        %(start_month)s::int as start_month,
        make_date(
            %(last_year)s::int - case when %(start_month)s::int > 1 then 1 else 0 end,
            %(start_month)s::int,
            1
        ) + interval '6 months' as demo_today
),

clients_src as (
    select client_id from clients
),

event_types as (
    select event_type_id from segmentation_event_types
),

segmentation_src as (
    select
        client_id,
        tier_id,
        effective_from,
        effective_to
    from client_segmentation
),

requirements_src as (
    select
        tier_id,
        event_type_id,
        required_per_year
    from tier_event_requirements
),

churn_dates as (
    select
        a.client_id,
        min(
            make_date(
                a.fiscal_year - case when p.start_month > 1 then 1 else 0 end, p.start_month, 1
            )
            + make_interval(months => a.fiscal_month - 1)
        )::date as churn_date
    from burc_arr_tracking as a
    cross join params as p
    where a.arr = 0
    group by a.client_id
),

years as (
    select
        y.fiscal_year,
        make_date(
            y.fiscal_year - case when p.start_month > 1 then 1 else 0 end, p.start_month, 1
        ) as year_start
    from params as p
    cross join lateral generate_series(p.first_year, p.last_year) as y (fiscal_year)
),

client_years as (
    select
        c.client_id,
        y.fiscal_year,
        y.year_start,
        s.tier_id,
        (y.year_start + interval '1 year')::date - y.year_start as year_days
    from years as y
    -- lateral on the year (offset 0 keeps it a separate step): rows come out year by year
    -- and client by client, the order of event_id, which keeps its index cheap to fill
    cross join lateral (
        select cs.client_id
        from clients_src as cs
        where y.fiscal_year is not null
        offset 0
    ) as c
    left join segmentation_src as s
        on
            c.client_id = s.client_id
            and s.effective_from <= y.year_start + 182
            and (s.effective_to is null or s.effective_to >= y.year_start + 182)
),

planned as (
    select
        cy.client_id,
        cy.fiscal_year,
        cy.year_start,
        cy.year_days,
        t.event_type_id,
        coalesce(r.required_per_year, 0) as required_count,
        finsync_demo_rand('event_diligence:' || cy.client_id, p.seed) as u_diligence,
        finsync_demo_rand(
            'event_count:' || cy.client_id || ':' || cy.fiscal_year || ':' || t.event_type_id,
            p.seed
        ) as u_count
    from client_years as cy
    cross join event_types as t
    cross join params as p
    left join requirements_src as r
        on cy.tier_id = r.tier_id and t.event_type_id = r.event_type_id
),

counted as (
    select
        client_id,
        fiscal_year,
        year_start,
        year_days,
        event_type_id,
        case
            when required_count > 0
                then floor(required_count * (0.60 + 0.65 * u_diligence) + u_count)::int
            when u_count < 0.10 then 1
            else 0
        end as event_count
    from planned
    -- offset 0: draw each count once, not once per event below
    offset 0
),

events as (
    select
        c.client_id,
        c.fiscal_year,
        c.event_type_id,
        e.event_no,
        c.event_count,
        c.year_start,
        c.year_days,
        hashtextextended(
            'event:' || c.client_id || ':' || c.fiscal_year || ':' || c.event_type_id
            || ':' || e.event_no,
            p.seed
        ) as event_hash
    from counted as c
    cross join params as p
    cross join lateral generate_series(1, c.event_count) as e (event_no)
    -- offset 0: compute the hash once per event, not once per use below
    offset 0
),

dated as (
    select
        client_id,
        fiscal_year,
        event_type_id,
        event_no,
        ((event_hash >> 32) & 65535)::float8 / 65536 as u_status,
        case
            -- 328 / 65536 is a chance of 0.005
            when event_no = 1 and ((event_hash >> 16) & 65535) < 328 then year_start
            when event_no = event_count and ((event_hash >> 48) & 65535) < 328
                then year_start + year_days - 1
            else
                year_start
                + floor(
                    (event_no - 1 + (event_hash & 65535)::float8 / 65536)
                    / event_count * year_days
                )::int
        end as event_date
    from events
)

insert into segmentation_events (event_id, client_id, event_type_id, event_date, status)
select
    'EV-' || d.fiscal_year || '-' || substr(d.client_id, 2) || '-' || d.event_type_id
    || '-' || lpad(d.event_no::text, 2, '0') as event_id,
    d.client_id,
    d.event_type_id,
    d.event_date,
    case
        when d.event_date > p.demo_today and d.u_status < 0.9 then 'scheduled'
        when d.event_date > p.demo_today then 'cancelled'
        when d.u_status < 0.88 then 'completed'
        when d.u_status < 0.98 then 'cancelled'
        else 'scheduled'
    end as status
from dated as d
cross join params as p
left join churn_dates as c on d.client_id = c.client_id
where c.churn_date is null or d.event_date < c.churn_date;
