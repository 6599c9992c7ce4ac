-- Demo revenue per client, fiscal month and revenue type, derived from the month's ARR.
-- Rules (monthly ARR = ARR / 12; nothing is billed once a client has churned):
-- - Software in 0.92 of months, about 0.62 of monthly ARR (plus or minus 0.15 of that);
-- - Maintenance in 0.88 of months, about 0.22 of monthly ARR;
-- - PS in 0.62 of months, lumpy: 0.04 to 0.32 of monthly ARR;
-- - Hardware in 0.06 of months, 0.5 to 3 times monthly ARR;
-- about 2.5 rows per client-month. One text hash per client-month, and a second one derived
-- from it, give eight 16-bit uniform draws (bit slices): this is the biggest demo table.
with params as (
    select %(seed)s::bigint as seed
),

arr_src as (
    select
        client_id,
        fiscal_year,
        fiscal_month,
        arr
    from burc_arr_tracking
    where arr > 0
),

draws as (
    select
        h.client_id,
        h.fiscal_year,
        h.fiscal_month,
        h.monthly_arr,
        h.presence_hash,
        hashint8extended(h.presence_hash, h.seed) as amount_hash
    from (
        select
            a.client_id,
            a.fiscal_year,
            a.fiscal_month,
            p.seed,
            a.arr::float8 / 12 as monthly_arr,
            hashtextextended(
                'revenue:' || a.client_id || ':' || a.fiscal_year || ':' || a.fiscal_month, p.seed
            ) as presence_hash
        from arr_src as a
        cross join params as p
        offset 0
    ) as h
    -- offset 0: compute the hashes once per client-month, not once per use below
    offset 0
),

revenue_lines as (
    select
        d.client_id,
        d.fiscal_year,
        d.fiscal_month,
        t.revenue_type,
        t.presence_share,
        ((d.presence_hash >> t.bit_offset) & 65535)::float8 / 65536 as u_presence,
        d.monthly_arr * (
            t.base_share + t.spread_share * ((d.amount_hash >> t.bit_offset) & 65535) / 65536
        ) as amount
    from draws as d
    cross join (
        values
            ('Software', 0, 0.92::float8, 0.527::float8, 0.186::float8),
            ('Maintenance', 16, 0.88, 0.209, 0.022),
            ('PS', 32, 0.62, 0.040, 0.280),
            ('Hardware', 48, 0.06, 0.500, 2.500)
    ) as t (revenue_type, bit_offset, presence_share, base_share, spread_share)
)

insert into burc_client_revenue_detail (
    client_id, fiscal_year, fiscal_month, revenue_type, amount
)
select
    client_id,
    fiscal_year,
    fiscal_month,
    revenue_type,
    -- whole cents in float8, then numeric: cheaper than casting each float8 to numeric
    round(100 * amount)::bigint * 0.01 as amount
from revenue_lines
where u_presence < presence_share;
