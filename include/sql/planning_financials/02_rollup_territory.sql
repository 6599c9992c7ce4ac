-- Territory level: every mapped territory (and 'Unassigned' when clients roll up to it),
-- summed from this run's client rows; ratios recomputed from the sums (docs/metrics.md).
insert into finsync_stage.territory_strategy_financials (
    run_id, territory, fiscal_year, as_of_date, business_unit, region, is_unassigned,
    count_clients, count_active_clients, count_segment_giant, count_segment_large,
    count_segment_medium, count_segment_small, count_segment_other, current_arr, target_arr,
    mrr, gap_to_target, prior_year_arr, arr_growth_pct, q1_arr, q2_arr, q3_arr, q4_arr,
    q1_target_arr, q2_target_arr, q3_target_arr, q4_target_arr, revenue_software, revenue_ps,
    revenue_maintenance, revenue_hardware, total_revenue, revenue_to_date, lifetime_value,
    forecast_runrate, forecast_business_case, forecast_pipeline, expansion_pipeline,
    weighted_pipeline, gap_closure_business_case, gap_closure_pipeline, gap_coverage_pct,
    starting_arr_3yr, expansion_arr_3yr, contraction_arr_3yr, churned_arr_3yr, nrr_3yr,
    grr_3yr, ar_balance, ar_current, ar_overdue, ar_over_90, dso_days, collection_risk,
    renewal_q1_value, renewal_q2_value, renewal_q3_value, renewal_q4_value,
    top_clients_arr_share_pct, arr_hhi, concentration_risk, avg_health_score,
    count_at_risk_clients, arr_at_risk, count_risk_low, count_risk_medium, count_risk_high,
    count_risk_critical, count_plans_approved, count_plans_in_review, count_plans_draft,
    count_plans_missing, plan_coverage_pct, strategy_status
)
with
client_rows as (
    select *
    from finsync_stage.account_plan_financials
    where run_id = %(run_id)s
),

strategies as (
    select territory, min(status) as status
    from territory_strategies
    where fiscal_year = %(fiscal_year)s
    group by territory
),

territories as (
    select territory, business_unit, region, false as is_unassigned
    from territory_bu_map
    union
    select distinct territory, business_unit, region, true as is_unassigned
    from client_rows
    where is_unassigned
),

sums as (
    select
        territory,
        count(*) as count_clients,
        count(*) filter (where client_status = 'active') as count_active_clients,
        count(*) filter (where segment = 'Giant') as count_segment_giant,
        count(*) filter (where segment = 'Large') as count_segment_large,
        count(*) filter (where segment = 'Medium') as count_segment_medium,
        count(*) filter (where segment = 'Small') as count_segment_small,
        count(*) filter (
            where segment is null or segment not in ('Giant', 'Large', 'Medium', 'Small')
        ) as count_segment_other,
        sum(current_arr) as current_arr,
        sum(target_arr) as target_arr,
        sum(mrr) as mrr,
        sum(gap_to_target) as gap_to_target,
        sum(prior_year_arr) as prior_year_arr,
        sum(q1_arr) as q1_arr,
        sum(q2_arr) as q2_arr,
        sum(q3_arr) as q3_arr,
        sum(q4_arr) as q4_arr,
        sum(q1_target_arr) as q1_target_arr,
        sum(q2_target_arr) as q2_target_arr,
        sum(q3_target_arr) as q3_target_arr,
        sum(q4_target_arr) as q4_target_arr,
        sum(revenue_software) as revenue_software,
        sum(revenue_ps) as revenue_ps,
        sum(revenue_maintenance) as revenue_maintenance,
        sum(revenue_hardware) as revenue_hardware,
        sum(total_revenue) as total_revenue,
        sum(revenue_to_date) as revenue_to_date,
        sum(lifetime_value) as lifetime_value,
        sum(forecast_runrate) as forecast_runrate,
        sum(forecast_business_case) as forecast_business_case,
        sum(forecast_pipeline) as forecast_pipeline,
        sum(expansion_pipeline) as expansion_pipeline,
        sum(weighted_pipeline) as weighted_pipeline,
        sum(gap_closure_business_case) as gap_closure_business_case,
        sum(gap_closure_pipeline) as gap_closure_pipeline,
        sum(starting_arr_3yr) as starting_arr_3yr,
        sum(expansion_arr_3yr) as expansion_arr_3yr,
        sum(contraction_arr_3yr) as contraction_arr_3yr,
        sum(churned_arr_3yr) as churned_arr_3yr,
        sum(ar_balance) as ar_balance,
        sum(ar_current) as ar_current,
        sum(ar_overdue) as ar_overdue,
        sum(ar_over_90) as ar_over_90,
        sum(renewal_q1_value) as renewal_q1_value,
        sum(renewal_q2_value) as renewal_q2_value,
        sum(renewal_q3_value) as renewal_q3_value,
        sum(renewal_q4_value) as renewal_q4_value,
        avg(health_score) as avg_health_score,
        count(*) filter (where is_at_risk) as count_at_risk_clients,
        sum(arr_at_risk) as arr_at_risk,
        count(*) filter (where attrition_risk_level = 'low') as count_risk_low,
        count(*) filter (where attrition_risk_level = 'medium') as count_risk_medium,
        count(*) filter (where attrition_risk_level = 'high') as count_risk_high,
        count(*) filter (where attrition_risk_level = 'critical') as count_risk_critical,
        count(*) filter (where account_plan_status = 'approved') as count_plans_approved,
        count(*) filter (where account_plan_status = 'in_review') as count_plans_in_review,
        count(*) filter (where account_plan_status = 'draft') as count_plans_draft,
        count(*) filter (where account_plan_status = 'missing') as count_plans_missing
    from client_rows
    group by territory
),

ranked as (
    select
        territory,
        current_arr,
        row_number() over (partition by territory order by current_arr desc, client_id) as arr_rank,
        sum(current_arr) over (partition by territory) as territory_arr
    from client_rows
    where current_arr > 0
),

concentration as (
    -- Concentration: the top 5 clients' share of the territory's ARR, and the
    -- Herfindahl-Hirschman index of client ARR shares (0-10,000).
    select
        territory,
        100 * sum(current_arr) filter (where arr_rank <= 5) / max(territory_arr) as top_share_pct,
        sum(finsync_rules.hhi_term(current_arr, territory_arr)) as hhi
    from ranked
    group by territory
)

select
    %(run_id)s as run_id,
    t.territory,
    %(fiscal_year)s as fiscal_year,
    %(as_of_date)s as as_of_date,
    t.business_unit,
    t.region,
    t.is_unassigned,
    coalesce(s.count_clients, 0) as count_clients,
    coalesce(s.count_active_clients, 0) as count_active_clients,
    coalesce(s.count_segment_giant, 0) as count_segment_giant,
    coalesce(s.count_segment_large, 0) as count_segment_large,
    coalesce(s.count_segment_medium, 0) as count_segment_medium,
    coalesce(s.count_segment_small, 0) as count_segment_small,
    coalesce(s.count_segment_other, 0) as count_segment_other,
    coalesce(s.current_arr, 0) as current_arr,
    coalesce(s.target_arr, 0) as target_arr,
    coalesce(s.mrr, 0) as mrr,
    coalesce(s.gap_to_target, 0) as gap_to_target,
    s.prior_year_arr,
    finsync_rules.growth_pct(s.current_arr, s.prior_year_arr) as arr_growth_pct,
    s.q1_arr,
    s.q2_arr,
    s.q3_arr,
    s.q4_arr,
    s.q1_target_arr,
    s.q2_target_arr,
    s.q3_target_arr,
    s.q4_target_arr,
    coalesce(s.revenue_software, 0) as revenue_software,
    coalesce(s.revenue_ps, 0) as revenue_ps,
    coalesce(s.revenue_maintenance, 0) as revenue_maintenance,
    coalesce(s.revenue_hardware, 0) as revenue_hardware,
    coalesce(s.total_revenue, 0) as total_revenue,
    coalesce(s.revenue_to_date, 0) as revenue_to_date,
    coalesce(s.lifetime_value, 0) as lifetime_value,
    coalesce(s.forecast_runrate, 0) as forecast_runrate,
    coalesce(s.forecast_business_case, 0) as forecast_business_case,
    coalesce(s.forecast_pipeline, 0) as forecast_pipeline,
    coalesce(s.expansion_pipeline, 0) as expansion_pipeline,
    coalesce(s.weighted_pipeline, 0) as weighted_pipeline,
    coalesce(s.gap_closure_business_case, 0) as gap_closure_business_case,
    coalesce(s.gap_closure_pipeline, 0) as gap_closure_pipeline,
    finsync_rules.gap_coverage_pct(
        s.gap_to_target, s.gap_closure_business_case, s.gap_closure_pipeline
    ) as gap_coverage_pct,
    coalesce(s.starting_arr_3yr, 0) as starting_arr_3yr,
    coalesce(s.expansion_arr_3yr, 0) as expansion_arr_3yr,
    coalesce(s.contraction_arr_3yr, 0) as contraction_arr_3yr,
    coalesce(s.churned_arr_3yr, 0) as churned_arr_3yr,
    -- Portfolio NRR/GRR from the summed bridge, never an average of percentages.
    finsync_rules.nrr_pct(
        s.starting_arr_3yr, s.expansion_arr_3yr, s.contraction_arr_3yr, s.churned_arr_3yr
    ) as nrr_3yr,
    finsync_rules.grr_pct(s.starting_arr_3yr, s.contraction_arr_3yr, s.churned_arr_3yr)
        as grr_3yr,
    coalesce(s.ar_balance, 0) as ar_balance,
    coalesce(s.ar_current, 0) as ar_current,
    coalesce(s.ar_overdue, 0) as ar_overdue,
    coalesce(s.ar_over_90, 0) as ar_over_90,
    finsync_rules.dso_days(s.ar_balance, s.revenue_to_date, %(days_elapsed)s) as dso_days,
    finsync_rules.collection_risk(s.ar_balance, s.ar_overdue, s.ar_over_90) as collection_risk,
    coalesce(s.renewal_q1_value, 0) as renewal_q1_value,
    coalesce(s.renewal_q2_value, 0) as renewal_q2_value,
    coalesce(s.renewal_q3_value, 0) as renewal_q3_value,
    coalesce(s.renewal_q4_value, 0) as renewal_q4_value,
    c.top_share_pct as top_clients_arr_share_pct,
    c.hhi as arr_hhi,
    finsync_rules.concentration_risk(c.hhi) as concentration_risk,
    s.avg_health_score,
    coalesce(s.count_at_risk_clients, 0) as count_at_risk_clients,
    coalesce(s.arr_at_risk, 0) as arr_at_risk,
    coalesce(s.count_risk_low, 0) as count_risk_low,
    coalesce(s.count_risk_medium, 0) as count_risk_medium,
    coalesce(s.count_risk_high, 0) as count_risk_high,
    coalesce(s.count_risk_critical, 0) as count_risk_critical,
    coalesce(s.count_plans_approved, 0) as count_plans_approved,
    coalesce(s.count_plans_in_review, 0) as count_plans_in_review,
    coalesce(s.count_plans_draft, 0) as count_plans_draft,
    coalesce(s.count_plans_missing, 0) as count_plans_missing,
    finsync_rules.share_pct(s.count_plans_approved, s.count_clients) as plan_coverage_pct,
    coalesce(st.status, 'missing') as strategy_status
from territories as t
left join sums as s on s.territory = t.territory
left join concentration as c on c.territory = t.territory
left join strategies as st on st.territory = t.territory
