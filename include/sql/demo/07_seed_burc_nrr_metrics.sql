-- Demo NRR bridge: one row per client and fiscal year, from two years before the first seeded
-- year to the last. Rules:
-- - ARR follows exactly the model of 04_seed_burc_arr_tracking.sql (keep the two equal), so
--   starting_arr of year N is the ARR at the end of year N-1 and, for seeded years,
--   starting + expansion - contraction - churned equals the ARR of fiscal month 12;
-- - a client that became a customer in year N or later has an all-zero row (new logos are
--   not part of NRR);
-- - in its churn year a churned client has churned_arr = starting_arr, no expansion and no
--   contraction; in later years its row is all zero;
-- - otherwise the year's net change is expansion (up) or contraction (down), and both carry
--   a cross-sell / down-sell churn of up to 0.04 of starting ARR that cancels out.
with params as (
    select
        %(seed)s::bigint as seed,
        %(first_year)s::int as first_year,
        %(start_month)s::int as start_month,
        %(last_year)s::int - %(first_year)s::int + 1 as year_count
),

clients_src as (
    select
        client_id,
        segment,
        status,
        customer_since
    from clients
),

-- same client model as 04_seed_burc_arr_tracking.sql
client_model as materialized (
    select
        c.client_id,
        c.customer_since,
        case c.segment
            when 'Giant' then 2000000 * power(3.0::float8, u.u_base)
            when 'Large' then 500000 * power(4.0::float8, u.u_base)
            when 'Medium' then 100000 * power(5.0::float8, u.u_base)
            else 10000 * power(10.0::float8, u.u_base)
        end as base_arr,
        -0.10 + 0.35 * (u.u_growth_1 + u.u_growth_2) / 2 as growth_rate,
        floor(u.u_phase * 3) as phase,
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
        12 * y.year_offset - 1 as opening_month_index,
        12 * y.year_offset + 11 as closing_month_index,
        make_date(
            p.first_year + y.year_offset - case when p.start_month > 1 then 1 else 0 end,
            p.start_month,
            1
        ) as year_start
    from params as p
    cross join lateral generate_series(-2, p.year_count - 1) as y (year_offset)
),

client_years as (
    select
        cm.client_id,
        y.fiscal_year,
        cm.customer_since >= y.year_start as is_not_yet_customer,
        coalesce(cm.churn_month_index <= y.opening_month_index, false) as is_churned_before,
        coalesce(cm.churn_month_index <= y.closing_month_index, false) as is_churned_by_end,
        -- whole cents in float8, then numeric, exactly as in 04_seed_burc_arr_tracking.sql
        round(
            100 * cm.base_arr * power(
                1 + cm.growth_rate, floor((y.opening_month_index + cm.phase) / 3) / 4
            )
        )::bigint * 0.01 as opening_arr,
        round(
            100 * cm.base_arr * power(
                1 + cm.growth_rate, floor((y.closing_month_index + cm.phase) / 3) / 4
            )
        )::bigint * 0.01 as closing_arr,
        finsync_demo_rand('nrr_churn_within:' || cm.client_id || ':' || y.fiscal_year, p.seed)
            as u_churn_within
    from years as y
    cross join params as p
    -- lateral on the year (offset 0 keeps it a separate step): rows come out year by year
    -- and client by client, the order of the table's (fiscal_year, client_id) index
    cross join lateral (
        select c.*
        from client_model as c
        where y.fiscal_year is not null
        offset 0
    ) as cm
    -- offset 0: compute each ARR once, not once per use below
    offset 0
),

bridges as (
    select
        client_id,
        fiscal_year,
        case
            when is_not_yet_customer or is_churned_before then 0
            else opening_arr
        end as starting_arr,
        case
            when is_not_yet_customer or is_churned_before then 'none'
            when is_churned_by_end then 'churn'
            else 'bridge'
        end as bridge_kind,
        closing_arr - opening_arr as net_change,
        round(100 * opening_arr::float8 * 0.04 * u_churn_within)::bigint * 0.01 as churn_within
    from client_years
)

insert into burc_nrr_metrics (
    client_id, fiscal_year, starting_arr, expansion_arr, contraction_arr, churned_arr
)
select
    client_id,
    fiscal_year,
    starting_arr,
    case
        when bridge_kind = 'bridge' then greatest(net_change, 0) + churn_within
        else 0
    end as expansion_arr,
    case
        when bridge_kind = 'bridge' then greatest(-net_change, 0) + churn_within
        else 0
    end as contraction_arr,
    case when bridge_kind = 'churn' then starting_arr else 0 end as churned_arr
from bridges;
