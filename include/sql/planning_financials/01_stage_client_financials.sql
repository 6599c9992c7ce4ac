-- Client level: one row per client in `clients` for fiscal year N as of date D.
-- Exact core figures per the finance data contract; the rest per docs/metrics.md.
-- Missing source rows count as 0 for amounts, so every level's sums reconcile.
insert into finsync_stage.account_plan_financials (
    run_id, client_id, fiscal_year, as_of_date, client_name, cse_name, territory,
    business_unit, region, segment, client_status, is_unassigned, customer_since,
    tenure_months, current_arr, target_arr, mrr, gap_to_target, prior_year_arr,
    arr_growth_pct, q1_arr, q2_arr, q3_arr, q4_arr, q1_target_arr, q2_target_arr,
    q3_target_arr, q4_target_arr, revenue_software, revenue_ps, revenue_maintenance,
    revenue_hardware, total_revenue, revenue_to_date, lifetime_value, forecast_runrate,
    forecast_business_case, forecast_pipeline, expansion_pipeline, weighted_pipeline,
    gap_closure_business_case, gap_closure_pipeline, gap_coverage_pct, starting_arr_3yr,
    expansion_arr_3yr, contraction_arr_3yr, churned_arr_3yr, nrr_3yr, grr_3yr, ar_balance,
    ar_current, ar_overdue, ar_over_90, dso_days, collection_risk, renewal_date,
    renewal_value, days_to_renewal, renewal_risk, renewal_q1_value, renewal_q2_value,
    renewal_q3_value, renewal_q4_value, health_score, health_status, attrition_risk_level,
    arr_at_risk, is_at_risk, account_plan_status
)
with
source_clients as (
    select client_id, client_name, cse_name, segment, customer_since, status
    from clients
),

arr_rows as (
    select client_id, fiscal_year, fiscal_month, arr, target_arr
    from burc_arr_tracking
    where fiscal_year in (%(fiscal_year)s, %(fiscal_year)s - 1)
),

revenue_rows as (
    select client_id, fiscal_year, fiscal_month, revenue_type, amount
    from burc_client_revenue_detail
    where fiscal_year <= %(fiscal_year)s
),

forecast_rows as (
    select client_id, category, amount
    from burc_monthly_forecast
    where fiscal_year = %(fiscal_year)s
),

open_deals as (
    select client_id, deal_type, category, value, probability
    from burc_pipeline_deals
    where fiscal_year = %(fiscal_year)s and status = 'open'
),

bridge_rows as (
    select client_id, starting_arr, expansion_arr, contraction_arr, churned_arr
    from burc_nrr_metrics
    where fiscal_year between %(fiscal_year)s - 2 and %(fiscal_year)s
),

-- Contracts still to renew: active and ending on or after D.
active_contracts as (
    select client_id, end_date, annual_value
    from burc_contracts
    where status = 'active' and end_date >= %(as_of_date)s
),

-- Where each client rolls up (unmapped CSEs and territories: 'Unassigned'), migration 007.
hierarchy as (
    select client_id, territory, business_unit, region, is_unassigned
    from finsync_client_hierarchy
),

arr_current as (
    -- Rule: current and target ARR come from the row of year N with the highest fiscal_month.
    select distinct on (client_id) client_id, arr, target_arr
    from arr_rows
    where fiscal_year = %(fiscal_year)s
    order by client_id, fiscal_month desc
),

arr_prior as (
    select distinct on (client_id) client_id, arr
    from arr_rows
    where fiscal_year = %(fiscal_year)s - 1
    order by client_id, fiscal_month desc
),

arr_quarters as (
    -- A quarter's ARR and target: the row with the highest fiscal_month inside the quarter.
    select
        client_id,
        (array_agg(arr order by fiscal_month desc) filter (where fiscal_month <= 3))[1] as q1_arr,
        (array_agg(arr order by fiscal_month desc)
            filter (where fiscal_month between 4 and 6))[1] as q2_arr,
        (array_agg(arr order by fiscal_month desc)
            filter (where fiscal_month between 7 and 9))[1] as q3_arr,
        (array_agg(arr order by fiscal_month desc) filter (where fiscal_month >= 10))[1] as q4_arr,
        (array_agg(target_arr order by fiscal_month desc)
            filter (where fiscal_month <= 3))[1] as q1_target_arr,
        (array_agg(target_arr order by fiscal_month desc)
            filter (where fiscal_month between 4 and 6))[1] as q2_target_arr,
        (array_agg(target_arr order by fiscal_month desc)
            filter (where fiscal_month between 7 and 9))[1] as q3_target_arr,
        (array_agg(target_arr order by fiscal_month desc)
            filter (where fiscal_month >= 10))[1] as q4_target_arr
    from arr_rows
    where fiscal_year = %(fiscal_year)s
    group by client_id
),

revenue as (
    select
        client_id,
        sum(amount) filter (
            where fiscal_year = %(fiscal_year)s and revenue_type = 'Software'
        ) as revenue_software,
        sum(amount) filter (
            where fiscal_year = %(fiscal_year)s and revenue_type = 'PS'
        ) as revenue_ps,
        sum(amount) filter (
            where fiscal_year = %(fiscal_year)s and revenue_type = 'Maintenance'
        ) as revenue_maintenance,
        sum(amount) filter (
            where fiscal_year = %(fiscal_year)s and revenue_type = 'Hardware'
        ) as revenue_hardware,
        -- Revenue to date: months of year N up to the fiscal month holding D (for DSO).
        sum(amount) filter (
            where fiscal_year = %(fiscal_year)s and fiscal_month <= %(as_of_fiscal_month)s
        ) as revenue_to_date,
        -- Lifetime value: all revenue recognised up to and including year N.
        sum(amount) as lifetime_value
    from revenue_rows
    group by client_id
),

forecast as (
    select
        client_id,
        sum(amount) filter (where category = 'runrate') as forecast_runrate,
        sum(amount) filter (where category = 'business_case') as forecast_business_case,
        sum(amount) filter (where category = 'pipeline') as forecast_pipeline
    from forecast_rows
    group by client_id
),

pipeline as (
    select
        client_id,
        -- Rule: expansion pipeline is open expansion deals of year N; weighted by probability.
        sum(value) filter (where deal_type = 'expansion') as expansion_pipeline,
        sum(value * probability) filter (where deal_type = 'expansion') as weighted_pipeline,
        -- Gap closure: probability-weighted open expansion and new-logo deals, by category.
        sum(value * probability) filter (
            where deal_type in ('expansion', 'new_logo') and category = 'business_case'
        ) as gap_closure_business_case,
        sum(value * probability) filter (
            where deal_type in ('expansion', 'new_logo') and category = 'pipeline'
        ) as gap_closure_pipeline
    from open_deals
    group by client_id
),

bridge as (
    -- The NRR/GRR bridge over years N-2..N, kept as sums so higher levels recompute the
    -- percentages from summed amounts rather than averaging percentages.
    select
        client_id,
        sum(starting_arr) as starting_arr,
        sum(expansion_arr) as expansion_arr,
        sum(contraction_arr) as contraction_arr,
        sum(churned_arr) as churned_arr
    from bridge_rows
    group by client_id
),

aging as (
    -- Rule: the client's latest aging snapshot on or before D.
    select distinct on (client_id)
        client_id,
        coalesce(current_amount, 0) as ar_current,
        coalesce(current_amount, 0) + coalesce(days_1_30, 0) + coalesce(days_31_60, 0)
        + coalesce(days_61_90, 0) + coalesce(days_over_90, 0) as ar_balance,
        coalesce(days_over_90, 0) as ar_over_90
    from aging_accounts
    where as_of_date <= %(as_of_date)s
    order by client_id, as_of_date desc
),

next_renewal as (
    select client_id, min(end_date) as renewal_date
    from active_contracts
    group by client_id
),

renewal as (
    -- Rule: renewal value is the annual value of the active contracts ending that day.
    select n.client_id, n.renewal_date, sum(a.annual_value) as renewal_value
    from next_renewal as n
    inner join active_contracts as a
        on a.client_id = n.client_id and a.end_date = n.renewal_date
    group by n.client_id, n.renewal_date
),

renewal_quarters as (
    -- Renewal pipeline: active contracts ending between D and the end of year N, by the
    -- fiscal quarter of their end date.
    select
        client_id,
        sum(annual_value) filter (where fiscal_quarter = 1) as renewal_q1_value,
        sum(annual_value) filter (where fiscal_quarter = 2) as renewal_q2_value,
        sum(annual_value) filter (where fiscal_quarter = 3) as renewal_q3_value,
        sum(annual_value) filter (where fiscal_quarter = 4) as renewal_q4_value
    from (
        select
            client_id,
            annual_value,
            finsync_rules.fiscal_quarter(end_date, %(year_start)s::date) as fiscal_quarter
        from active_contracts
        where end_date between %(year_start)s and %(year_end)s
    ) as q
    group by client_id
),

health as (
    select distinct on (client_id) client_id, health_score
    from client_health_history
    where snapshot_date <= %(as_of_date)s
    order by client_id, snapshot_date desc
),

attrition as (
    -- The highest risk level recorded for year N; ARR at risk summed over its rows.
    select
        client_id,
        max(
            case risk_level when 'low' then 1 when 'medium' then 2 when 'high' then 3 else 4 end
        ) as risk_rank,
        sum(arr_at_risk) as arr_at_risk
    from burc_attrition_risk
    where fiscal_year = %(fiscal_year)s
    group by client_id
),

plans as (
    -- A client with several plans for year N counts with its most advanced one.
    select
        client_id,
        min(case status when 'approved' then 1 when 'in_review' then 2 else 3 end) as plan_rank
    from account_plans
    where fiscal_year = %(fiscal_year)s
    group by client_id
),

joined as (
    select
        c.client_id,
        c.client_name,
        c.cse_name,
        h.territory,
        h.business_unit,
        h.region,
        c.segment,
        c.status as client_status,
        h.is_unassigned,
        c.customer_since,
        coalesce(a.arr, 0) as current_arr,
        coalesce(a.target_arr, 0) as target_arr,
        p.arr as prior_year_arr,
        q.q1_arr,
        q.q2_arr,
        q.q3_arr,
        q.q4_arr,
        q.q1_target_arr,
        q.q2_target_arr,
        q.q3_target_arr,
        q.q4_target_arr,
        coalesce(r.revenue_software, 0) as revenue_software,
        coalesce(r.revenue_ps, 0) as revenue_ps,
        coalesce(r.revenue_maintenance, 0) as revenue_maintenance,
        coalesce(r.revenue_hardware, 0) as revenue_hardware,
        coalesce(r.revenue_to_date, 0) as revenue_to_date,
        coalesce(r.lifetime_value, 0) as lifetime_value,
        coalesce(f.forecast_runrate, 0) as forecast_runrate,
        coalesce(f.forecast_business_case, 0) as forecast_business_case,
        coalesce(f.forecast_pipeline, 0) as forecast_pipeline,
        coalesce(pl.expansion_pipeline, 0) as expansion_pipeline,
        round(coalesce(pl.weighted_pipeline, 0), 2) as weighted_pipeline,
        round(coalesce(pl.gap_closure_business_case, 0), 2) as gap_closure_business_case,
        round(coalesce(pl.gap_closure_pipeline, 0), 2) as gap_closure_pipeline,
        coalesce(b.starting_arr, 0) as starting_arr_3yr,
        coalesce(b.expansion_arr, 0) as expansion_arr_3yr,
        coalesce(b.contraction_arr, 0) as contraction_arr_3yr,
        coalesce(b.churned_arr, 0) as churned_arr_3yr,
        coalesce(ag.ar_balance, 0) as ar_balance,
        coalesce(ag.ar_current, 0) as ar_current,
        coalesce(ag.ar_over_90, 0) as ar_over_90,
        rn.renewal_date,
        rn.renewal_value,
        rn.renewal_date - %(as_of_date)s::date as days_to_renewal,
        coalesce(rq.renewal_q1_value, 0) as renewal_q1_value,
        coalesce(rq.renewal_q2_value, 0) as renewal_q2_value,
        coalesce(rq.renewal_q3_value, 0) as renewal_q3_value,
        coalesce(rq.renewal_q4_value, 0) as renewal_q4_value,
        hs.health_score,
        coalesce(att.risk_rank, 0) as risk_rank,
        coalesce(att.arr_at_risk, 0) as arr_at_risk,
        pn.plan_rank
    from source_clients as c
    inner join hierarchy as h on h.client_id = c.client_id
    left join arr_current as a on a.client_id = c.client_id
    left join arr_prior as p on p.client_id = c.client_id
    left join arr_quarters as q on q.client_id = c.client_id
    left join revenue as r on r.client_id = c.client_id
    left join forecast as f on f.client_id = c.client_id
    left join pipeline as pl on pl.client_id = c.client_id
    left join bridge as b on b.client_id = c.client_id
    left join aging as ag on ag.client_id = c.client_id
    left join renewal as rn on rn.client_id = c.client_id
    left join renewal_quarters as rq on rq.client_id = c.client_id
    left join health as hs on hs.client_id = c.client_id
    left join attrition as att on att.client_id = c.client_id
    left join plans as pn on pn.client_id = c.client_id
)

select
    %(run_id)s as run_id,
    client_id,
    %(fiscal_year)s as fiscal_year,
    %(as_of_date)s as as_of_date,
    client_name,
    cse_name,
    territory,
    business_unit,
    region,
    segment,
    client_status,
    is_unassigned,
    customer_since,
    case
        when customer_since <= %(as_of_date)s::date
            then (
                extract(year from age(%(as_of_date)s::date, customer_since)) * 12
                + extract(month from age(%(as_of_date)s::date, customer_since))
            )::int
    end as tenure_months,
    current_arr,
    target_arr,
    current_arr / 12 as mrr,
    target_arr - current_arr as gap_to_target,
    prior_year_arr,
    finsync_rules.growth_pct(current_arr, prior_year_arr) as arr_growth_pct,
    q1_arr,
    q2_arr,
    q3_arr,
    q4_arr,
    q1_target_arr,
    q2_target_arr,
    q3_target_arr,
    q4_target_arr,
    revenue_software,
    revenue_ps,
    revenue_maintenance,
    revenue_hardware,
    revenue_software + revenue_ps + revenue_maintenance + revenue_hardware as total_revenue,
    revenue_to_date,
    lifetime_value,
    forecast_runrate,
    forecast_business_case,
    forecast_pipeline,
    expansion_pipeline,
    weighted_pipeline,
    gap_closure_business_case,
    gap_closure_pipeline,
    finsync_rules.gap_coverage_pct(
        target_arr - current_arr, gap_closure_business_case, gap_closure_pipeline
    ) as gap_coverage_pct,
    starting_arr_3yr,
    expansion_arr_3yr,
    contraction_arr_3yr,
    churned_arr_3yr,
    finsync_rules.nrr_pct(
        starting_arr_3yr, expansion_arr_3yr, contraction_arr_3yr, churned_arr_3yr
    ) as nrr_3yr,
    finsync_rules.grr_pct(starting_arr_3yr, contraction_arr_3yr, churned_arr_3yr) as grr_3yr,
    ar_balance,
    ar_current,
    ar_balance - ar_current as ar_overdue,
    ar_over_90,
    finsync_rules.dso_days(ar_balance, revenue_to_date, %(days_elapsed)s) as dso_days,
    finsync_rules.collection_risk(ar_balance, ar_balance - ar_current, ar_over_90)
        as collection_risk,
    renewal_date,
    renewal_value,
    days_to_renewal,
    -- Renewal risk: how soon the next renewal is, against health and attrition risk.
    case
        when renewal_date is null then 'none'
        when days_to_renewal <= 90 and (health_score < 50 or risk_rank >= 3) then 'high'
        when days_to_renewal <= 180 and (health_score < 70 or risk_rank >= 2) then 'medium'
        when health_score < 50 or risk_rank >= 3 then 'medium'
        else 'low'
    end as renewal_risk,
    renewal_q1_value,
    renewal_q2_value,
    renewal_q3_value,
    renewal_q4_value,
    health_score,
    case
        when health_score is null then 'unknown'
        when health_score >= 70 then 'healthy'
        when health_score >= 50 then 'watch'
        else 'at_risk'
    end as health_status,
    case risk_rank
        when 1 then 'low' when 2 then 'medium' when 3 then 'high' when 4 then 'critical'
    end as attrition_risk_level,
    arr_at_risk,
    -- At-risk account: health below 50 or a high/critical attrition risk for year N.
    coalesce(health_score < 50, false) or risk_rank >= 3 as is_at_risk,
    case plan_rank
        when 1 then 'approved' when 2 then 'in_review' when 3 then 'draft' else 'missing'
    end as account_plan_status
from joined
