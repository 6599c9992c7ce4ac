-- Demo clients of an APAC software vendor: C000001 .. C<client_count>.
-- Rules:
-- - segment: Giant 0.05, Large 0.15, Medium 0.35, Small 0.45 of clients;
-- - CSE by weight; clients 1..12 get one CSE each so every territory has a client;
--   every client numbered 37 modulo 100 (0.01 of clients) sits with 'Unallocated Queue',
--   a CSE with no territory mapping, so the Unassigned roll-up shows;
-- - country fits the CSE's territory; customer_since lies between 2008 (or three years
--   before the first seeded fiscal year, if earlier) and the day before that year starts;
-- - status 'churned' for 0.06 of clients (they churn inside the seeded years), else 'active'.
with params as (
    select
        %(seed)s::bigint as seed,
        %(client_count)s::int as client_count,
        make_date(
            %(first_year)s::int - case when %(start_month)s::int > 1 then 1 else 0 end,
            %(start_month)s::int,
            1
        ) as first_year_start
),

cse_weights (cse_ordinal, cse_name, lower_bound, upper_bound, countries) as (
    values
        (1, 'Tracey Bugeja', 0.00::float8, 0.13::float8, array['Australia']),
        (2, 'Jess Gawler', 0.13, 0.27, array['Australia']),
        (3, 'John Bugeja', 0.27, 0.36, array['Australia']),
        (4, 'Mia Thompson', 0.36, 0.44, array['Australia']),
        (5, 'Liam Walker', 0.44, 0.51, array['New Zealand']),
        (
            6, 'Jimmy Leimonitis', 0.51, 0.59,
            array['Singapore', 'Singapore', 'Indonesia', 'Philippines', 'Vietnam']
        ),
        (7, 'Boon Koh', 0.59, 0.66, array['Singapore', 'Indonesia', 'Philippines', 'Vietnam']),
        (8, 'Siti Rahman', 0.66, 0.73, array['Malaysia']),
        (9, 'Niran Chai', 0.73, 0.79, array['Thailand']),
        (10, 'Grace Wong', 0.79, 0.85, array['Hong Kong']),
        (11, 'Wei Zhang', 0.85, 0.92, array['China']),
        (12, 'Chen Lin', 0.92, 1.00, array['Taiwan']),
        (13, 'Unallocated Queue', 2.00, 2.00, array['Australia', 'Singapore', 'New Zealand'])
),

numbers as (
    select
        gs.client_no,
        'C' || lpad(gs.client_no::text, greatest(6, length(gs.client_no::text)), '0')
            as client_id
    from params as p
    cross join lateral generate_series(1, p.client_count) as gs (client_no)
),

draws as (
    select
        n.client_no,
        n.client_id,
        case
            when n.client_no %% 100 = 37 then 13
            when n.client_no <= 12 then n.client_no
        end as forced_cse_ordinal,
        finsync_demo_rand('cse:' || n.client_id, p.seed) as u_cse,
        finsync_demo_rand('segment:' || n.client_id, p.seed) as u_segment,
        finsync_demo_rand('country:' || n.client_id, p.seed) as u_country,
        finsync_demo_rand('name_prefix:' || n.client_id, p.seed) as u_prefix,
        finsync_demo_rand('name_industry:' || n.client_id, p.seed) as u_industry,
        finsync_demo_rand('since:' || n.client_id, p.seed) as u_since,
        finsync_demo_rand('churned:' || n.client_id, p.seed) as u_churned,
        least(date '2008-01-01', (p.first_year_start - interval '3 years')::date)
            as since_floor,
        p.first_year_start
    from numbers as n
    cross join params as p
),

with_cse as (
    select
        d.*,
        w.cse_name,
        w.countries[1 + floor(d.u_country * cardinality(w.countries))::int] as country
    from draws as d
    inner join cse_weights as w
        on
            w.cse_ordinal = d.forced_cse_ordinal
            or (
                d.forced_cse_ordinal is null
                and d.u_cse >= w.lower_bound
                and d.u_cse < w.upper_bound
            )
),

named as (
    select
        c.*,
        (array[
            'Pacific', 'Harbour', 'Southern Cross', 'Golden Wattle', 'Jade', 'Coral Sea',
            'Summit', 'Evergreen', 'Lotus', 'Silver Fern', 'Banyan', 'Monsoon', 'Red Lantern',
            'Orchid', 'Eastern Star', 'Blue Mountain', 'Riverbend', 'Kowhai', 'Merlion',
            'Pearl River'
        ])[1 + floor(c.u_prefix * 20)::int] as name_prefix,
        (array[
            'Health', 'Logistics', 'Energy', 'Foods', 'Mining', 'Financial', 'Retail',
            'Telecom', 'Manufacturing', 'Water', 'Education', 'Insurance', 'Property',
            'Transport', 'Agritech', 'Media'
        ])[1 + floor(c.u_industry * 16)::int] as name_industry,
        case c.country
            when 'Australia' then 'Pty Ltd'
            when 'New Zealand' then 'Limited'
            when 'Singapore' then 'Pte Ltd'
            when 'Indonesia' then 'Tbk'
            when 'Philippines' then 'Inc.'
            when 'Vietnam' then 'JSC'
            when 'Malaysia' then 'Sdn Bhd'
            when 'Thailand' then 'Public Co Ltd'
            when 'Hong Kong' then 'Limited'
            when 'China' then 'Co., Ltd.'
            else 'Corporation'
        end as legal_suffix
    from with_cse as c
)

insert into clients (
    client_id, client_name, cse_name, segment, country, customer_since, status
)
select
    client_id,
    -- the client number keeps generated names unique
    name_prefix || ' ' || name_industry || ' ' || client_no || ' ' || legal_suffix as client_name,
    cse_name,
    case
        when u_segment < 0.05 then 'Giant'
        when u_segment < 0.20 then 'Large'
        when u_segment < 0.55 then 'Medium'
        else 'Small'
    end as segment,
    country,
    since_floor + floor(u_since * (first_year_start - since_floor))::int as customer_since,
    case when u_churned < 0.06 then 'churned' else 'active' end as status
from named;
