-- Demo manual compliance adjustments (events recorded outside segmentation_events).
-- Rules: sparse, 0.03 of (client, event type, seeded fiscal year) combinations; the
-- adjustment is -2, -1, 1, 2 or 3 events, never 0.
with params as (
    select
        %(seed)s::bigint as seed,
        %(first_year)s::int as first_year,
        %(last_year)s::int as last_year
),

clients_src as (
    select client_id from clients
),

event_types as (
    select event_type_id from segmentation_event_types
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
)

insert into segmentation_event_compliance (client_id, event_type_id, fiscal_year, adjustment_count)
select
    client_id,
    event_type_id,
    fiscal_year,
    (array[-2, -1, 1, 2, 3])[1 + floor(((adjustment_hash >> 16) & 65535)::float8 / 65536 * 5)::int]
from combinations
-- 1966 / 65536 is a chance of 0.03
where (adjustment_hash & 65535) < 1966;
