-- Demo ARR: one row per client, seeded fiscal year and fiscal month 1..12.
-- Rules (07_seed_burc_nrr_metrics.sql computes the same ARR for its bridge: keep them equal):
-- - opening ARR at fiscal month 1 of the first seeded year, log-uniform by segment:
--   Giant 2M-6M, Large 0.5M-2M, Medium 100k-500k, Small 10k-100k;
-- - a yearly growth rate per client between -0.10 and +0.25 (mean +0.075), applied in
--   quarterly steps (each client on its own quarter phase), so ARR moves in small steps;
-- - a churned client drops to 0 ARR from its churn month (after the first seeded month) on;
-- - target_arr is 5 to 15 per cent above the ARR the client would have without churn,
--   uplift drawn per client and year; 0 in the years after the client churned.
with params as (
    select
        %(seed)s::bigint as seed,
        %(first_year)s::int as first_year,
        %(last_year)s::int - %(first_year)s::int + 1 as year_count
),

clients_src as (
    select
        client_id,
        segment,
        status
    from clients
),

client_model as materialized (
    select
        c.client_id,
        case c.segment
            when 'Giant' then 2000000 * power(3.0::float8, u.u_base)
            when 'Large' then 500000 * power(4.0::float8, u.u_base)
            when 'Medium' then 100000 * power(5.0::float8, u.u_base)
            else 10000 * power(10.0::float8, u.u_base)
        end as base_arr,
        -0.10 + 0.35 * (u.u_growth_1 + u.u_growth_2) / 2 as growth_rate,
        floor(u.u_phase * 3) as phase,
        -- month index (0 = first month of the first seeded year) from which ARR is 0
        case
            when c.status = 'churned' then 1 + floor(u.u_churn * (12 * p.year_count - 1))
        end as churn_month_index
    from clients_src as c
    cross join params as p
    cross join lateral (
        select
            finsync_demo_rand('arr_base:' || c.client_id, p.seed) as u_base,
            finsync_demo_rand('arr_growth_1:' || c.client_id, p.seed) as u_growth_1,
            finsync_demo_rand('arr_growth_2:' || c.client_id, p.seed) as u_growth_2,
            finsync_demo_rand('arr_phase:' || c.client_id, p.seed) as u_phase,
            finsync_demo_rand('churn_month:' || c.client_id, p.seed) as u_churn
    ) as u
),

years as (
    select
        p.first_year + y.year_offset as fiscal_year,
        12 * y.year_offset as first_month_index
    from params as p
    cross join lateral generate_series(0, p.year_count - 1) as y (year_offset)
),

client_months as (
    select
        y.fiscal_year,
        cm.client_id,
        cm.fiscal_month,
        y.first_month_index + cm.fiscal_month - 1
        >= coalesce(cm.churn_month_index, 1e9) as is_churned,
        y.first_month_index >= coalesce(cm.churn_month_index, 1e9) as is_churned_before_year,
        -- whole cents in float8, then numeric: cheaper than casting each float8 to numeric
        round(
            100 * cm.base_arr * power(
                1 + cm.growth_rate,
                floor((y.first_month_index + cm.fiscal_month - 1 + cm.phase) / 3) / 4
            )
        )::bigint * 0.01 as arr_without_churn,
        1.05 + 0.10 * finsync_demo_rand(
            'target_uplift:' || cm.client_id || ':' || y.fiscal_year, p.seed
        ) as target_uplift
    from years as y
    cross join params as p
    -- lateral on the year (offset 0 keeps it a separate step) with the months generated per
    -- client: rows come out year by year and client by client, the order of the table's
    -- (fiscal_year, client_id) index, which keeps inserting into it cheap
    cross join lateral (
        select
            c.*,
            generate_series(1, 12) as fiscal_month
        from client_model as c
        where y.fiscal_year is not null
        offset 0
    ) as cm
    -- offset 0: compute each month's ARR once, not once per use below
    offset 0
)

insert into burc_arr_tracking (client_id, fiscal_year, fiscal_month, arr, target_arr)
select
    client_id,
    fiscal_year,
    fiscal_month,
    case when is_churned then 0 else arr_without_churn end as arr,
    case
        when is_churned_before_year then 0
        else round(100 * arr_without_churn::float8 * target_uplift)::bigint * 0.01
    end as target_arr
from client_months;
