-- Demo manual compliance adjustments (events recorded outside segmentation_events).
-- Rules: sparse, 0.04 of (client, event type, seeded fiscal year) combinations are drawn; the
-- adjustment is -2, -1, 1, 2 or 3 events, never 0; a negative adjustment (events recorded
-- twice) never removes more than the completed events of that client, type and year, and
-- is left out when there are none (about 0.03 of combinations keep an adjustment).
with params as (
    select
        %(seed)s::bigint as seed,
        %(first_year)s::int as first_year,
        %(last_year)s::int as last_year,
        %(start_month)s::int as start_month
),

clients_src as (
    select client_id from clients
),

event_types as (
    select event_type_id from segmentation_event_types
),

completed_events as (
    -- fiscal year of an event: the calendar year of (date - (start month - 1) months),
    -- plus one when the fiscal year starts after January
    select
        e.client_id,
        e.event_type_id,
        extract(year from e.event_date - make_interval(months => p.start_month - 1))::int
        + case when p.start_month > 1 then 1 else 0 end as fiscal_year,
        count(*) as completed_count
    from segmentation_events as e
    cross join params as p
    where e.status = 'completed'
    group by 1, 2, 3
),

combinations as (
    select
        c.client_id,
        t.event_type_id,
        y.fiscal_year,
        hashtextextended(
            'adjustment:' || c.client_id || ':' || t.event_type_id || ':' || y.fiscal_year,
            p.seed
        ) as adjustment_hash
    from clients_src as c
    cross join event_types as t
    cross join params as p
    cross join lateral generate_series(p.first_year, p.last_year) as y (fiscal_year)
),

adjustments as (
    select
        c.client_id,
        c.event_type_id,
        c.fiscal_year,
        greatest(
            (array[-2, -1, 1, 2, 3])[
                1 + floor(((c.adjustment_hash >> 16) & 65535)::float8 / 65536 * 5)::int
            ],
            -coalesce(e.completed_count, 0)
        ) as adjustment_count
    from combinations as c
    left join completed_events as e
        on
            c.client_id = e.client_id
            and c.event_type_id = e.event_type_id
            and c.fiscal_year = e.fiscal_year
    -- 2621 / 65536 is a chance of 0.04
    where (c.adjustment_hash & 65535) < 2621
)

insert into segmentation_event_compliance (client_id, event_type_id, fiscal_year, adjustment_count)
select
    client_id,
    event_type_id,
    fiscal_year,
    adjustment_count
from adjustments
where adjustment_count <> 0;
