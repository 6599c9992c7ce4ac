-- Demo receivables aging: one snapshot per client at each fiscal quarter end of the seeded
-- years. Rules (monthly billing = ARR / 12; amounts never negative):
-- - current_amount 0.6 to 1.2 of monthly billing;
-- - overdue buckets are occasional: 1-30 days with chance 0.45, 31-60 0.20, 61-90 0.10,
--   over 90 0.06, each a small share of monthly billing;
-- - once a client has churned only a bad debt can remain: over 90 days with chance 0.3
--   in its churn year (from its target ARR), nothing else.
-- One text hash per snapshot, and a second one derived from it, give nine 12-bit uniform
-- draws (bit slices).
with params as (
    select
        %(seed)s::bigint as seed,
        %(start_month)s::int as start_month
),

quarter_ends as (
    select
        a.client_id,
        a.arr::float8 / 12 as monthly_billing,
        a.target_arr::float8 / 12 as monthly_target,
        (
            make_date(
                a.fiscal_year - case when p.start_month > 1 then 1 else 0 end, p.start_month, 1
            )
            + make_interval(months => a.fiscal_month)
        )::date - 1 as as_of_date,
        p.seed,
        hashtextextended(
            'aging:' || a.client_id || ':' || a.fiscal_year || ':' || a.fiscal_month, p.seed
        ) as hash_a
    from burc_arr_tracking as a
    cross join params as p
    where a.fiscal_month in (3, 6, 9, 12)
    -- offset 0: compute the hash once per snapshot, not once per use below
    offset 0
),

hashes as (
    select
        client_id,
        as_of_date,
        monthly_billing,
        monthly_target,
        hash_a,
        hashint8extended(hash_a, seed) as hash_b
    from quarter_ends
    offset 0
),

draws as (
    select
        client_id,
        as_of_date,
        monthly_billing,
        monthly_target,
        (hash_a & 4095)::float8 / 4096 as u_current,
        ((hash_a >> 12) & 4095)::float8 / 4096 as u_has_1_30,
        ((hash_a >> 24) & 4095)::float8 / 4096 as u_has_31_60,
        ((hash_a >> 36) & 4095)::float8 / 4096 as u_has_61_90,
        ((hash_a >> 48) & 4095)::float8 / 4096 as u_has_over_90,
        (hash_b & 4095)::float8 / 4096 as u_1_30,
        ((hash_b >> 12) & 4095)::float8 / 4096 as u_31_60,
        ((hash_b >> 24) & 4095)::float8 / 4096 as u_61_90,
        ((hash_b >> 36) & 4095)::float8 / 4096 as u_over_90
    from hashes
)

insert into aging_accounts (
    client_id, as_of_date, current_amount, days_1_30, days_31_60, days_61_90, days_over_90
)
select
    client_id,
    as_of_date,
    -- amounts: whole cents in float8, then numeric (cheaper than casting each float8 to numeric)
    round(100 * monthly_billing * (0.6 + 0.6 * u_current))::bigint * 0.01,
    case
        when u_has_1_30 < 0.45
            then round(100 * monthly_billing * (0.05 + 0.45 * u_1_30))::bigint * 0.01
        else 0
    end,
    case
        when u_has_31_60 < 0.20
            then round(100 * monthly_billing * (0.03 + 0.27 * u_31_60))::bigint * 0.01
        else 0
    end,
    case
        when u_has_61_90 < 0.10
            then round(100 * monthly_billing * (0.02 + 0.18 * u_61_90))::bigint * 0.01
        else 0
    end,
    case
        when monthly_billing > 0 and u_has_over_90 < 0.06
            then round(100 * monthly_billing * (0.02 + 0.48 * u_over_90))::bigint * 0.01
        when monthly_billing = 0 and u_has_over_90 < 0.30
            then round(100 * monthly_target * (0.05 + 0.45 * u_over_90))::bigint * 0.01
        else 0
    end
from draws;
