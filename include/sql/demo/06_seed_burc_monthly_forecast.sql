-- Demo monthly forecast per client, fiscal year and fiscal month, from the month's ARR.
-- Rules (monthly ARR = ARR / 12):
-- - runrate: every client-month, 0.97 to 1.03 of monthly ARR (0 once the client has churned);
-- - business_case: 0.2 of client-months with ARR, 0.02 to 0.15 of monthly ARR;
-- - pipeline: 0.2 of client-months with ARR, 0.05 to 0.30 of monthly ARR.
-- One text hash per client-month, and a second one derived from it, give the 16-bit uniform
-- draws (bit slices).
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
                'forecast:' || a.client_id || ':' || a.fiscal_year || ':' || a.fiscal_month, p.seed
            ) as presence_hash
        from arr_src as a
        cross join params as p
        offset 0
    ) as h
    -- offset 0: compute the hashes once per client-month, not once per use below
    offset 0
),

forecast_lines as (
    select
        d.client_id,
        d.fiscal_year,
        d.fiscal_month,
        f.category,
        f.presence_share,
        d.monthly_arr,
        ((d.presence_hash >> f.bit_offset) & 65535)::float8 / 65536 as u_presence,
        d.monthly_arr * (
            f.base_share + f.spread_share * ((d.amount_hash >> f.bit_offset) & 65535) / 65536
        ) as amount
    from draws as d
    cross join (
        values
            ('runrate', 0, 1.00::float8, 0.97::float8, 0.06::float8),
            ('business_case', 16, 0.20, 0.02, 0.13),
            ('pipeline', 32, 0.20, 0.05, 0.25)
    ) as f (category, bit_offset, presence_share, base_share, spread_share)
)

insert into burc_monthly_forecast (client_id, fiscal_year, fiscal_month, category, amount)
select
    client_id,
    fiscal_year,
    fiscal_month,
    category,
    -- whole cents in float8, then numeric: cheaper than casting each float8 to numeric
    round(100 * amount)::bigint * 0.01 as amount
from forecast_lines
where
    category = 'runrate'
    or (monthly_arr > 0 and u_presence < presence_share);
