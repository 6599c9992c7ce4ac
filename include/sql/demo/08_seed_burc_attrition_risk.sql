-- Demo attrition risk: about 0.15 of clients per seeded fiscal year. Rules:
-- - only clients with ARR at the year's end (fiscal month 12) can be at risk;
-- - a client that churns in the next year is flagged with 0.75 chance, as high or critical;
--   any other client with 0.13 chance: low 0.40, medium 0.35, high 0.18, critical 0.07;
-- - arr_at_risk is a share of that year-end ARR, higher for higher levels, never above it;
-- - expected_date lies inside the fiscal year.
with params as (
    select
        %(seed)s::bigint as seed,
        %(start_month)s::int as start_month
),

year_end_arr as (
    select
        client_id,
        fiscal_year,
        arr,
        lead(arr) over (partition by client_id order by fiscal_year) as next_year_end_arr
    from burc_arr_tracking
    where fiscal_month = 12
),

draws as (
    select
        a.client_id,
        a.fiscal_year,
        a.arr,
        coalesce(a.next_year_end_arr = 0, false) as is_churning_next_year,
        make_date(
            a.fiscal_year - case when p.start_month > 1 then 1 else 0 end, p.start_month, 1
        ) as year_start,
        finsync_demo_rand('risk_pick:' || a.client_id || ':' || a.fiscal_year, p.seed)
            as u_pick,
        finsync_demo_rand('risk_level:' || a.client_id || ':' || a.fiscal_year, p.seed)
            as u_level,
        finsync_demo_rand('risk_share:' || a.client_id || ':' || a.fiscal_year, p.seed)
            as u_share,
        finsync_demo_rand('risk_date:' || a.client_id || ':' || a.fiscal_year, p.seed)
            as u_date
    from year_end_arr as a
    cross join params as p
    where a.arr > 0
),

at_risk as (
    select
        client_id,
        fiscal_year,
        arr,
        u_share,
        year_start + floor(u_date * ((year_start + interval '1 year')::date - year_start))::int
            as expected_date,
        case
            when is_churning_next_year and u_level < 0.5 then 'critical'
            when is_churning_next_year then 'high'
            when u_level < 0.40 then 'low'
            when u_level < 0.75 then 'medium'
            when u_level < 0.93 then 'high'
            else 'critical'
        end as risk_level
    from draws
    where u_pick < case when is_churning_next_year then 0.75 else 0.13 end
)

insert into burc_attrition_risk (client_id, fiscal_year, risk_level, arr_at_risk, expected_date)
select
    client_id,
    fiscal_year,
    risk_level,
    -- share of ARR at risk: low 0.05-0.25, medium 0.20-0.50, high 0.40-0.80, critical 0.70-1
    round(
        arr * (
            case risk_level
                when 'low' then 0.05 + 0.20 * u_share
                when 'medium' then 0.20 + 0.30 * u_share
                when 'high' then 0.40 + 0.40 * u_share
                else 0.70 + 0.30 * u_share
            end
        )::numeric,
        2
    ) as arr_at_risk,
    expected_date
from at_risk;
