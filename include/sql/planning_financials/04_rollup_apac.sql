-- Region level (APAC): additive figures summed from this run's business-unit rows;
-- concentration and health from the client rows; P&L summed over the units; KPI targets
-- are the region's (business_unit is null). Writes only the financials sync's columns.
insert into finsync_stage.apac_financials (
    run_id, fiscal_year, region, financials_as_of_date, count_business_units,
    count_territories, count_unassigned_clients,
    count_clients, count_active_clients, count_segment_giant, count_segment_large,
    count_segment_medium, count_segment_small, count_segment_other, current_arr,
    target_arr, mrr, gap_to_target, prior_year_arr, q1_arr, q2_arr, q3_arr, q4_arr,
    q1_target_arr, q2_target_arr, q3_target_arr, q4_target_arr, revenue_software,
    revenue_ps, revenue_maintenance, revenue_hardware, total_revenue, revenue_to_date,
    lifetime_value, forecast_runrate, forecast_business_case, forecast_pipeline,
    expansion_pipeline, weighted_pipeline, gap_closure_business_case, gap_closure_pipeline,
    starting_arr_3yr, expansion_arr_3yr, contraction_arr_3yr, churned_arr_3yr, ar_balance,
    ar_current, ar_overdue, ar_over_90, renewal_q1_value, renewal_q2_value,
    renewal_q3_value, renewal_q4_value, count_at_risk_clients, arr_at_risk, count_risk_low,
    count_risk_medium, count_risk_high, count_risk_critical, count_plans_approved,
    count_plans_in_review, count_plans_draft, count_plans_missing,
    arr_growth_pct, gap_coverage_pct, nrr_3yr, grr_3yr, dso_days, collection_risk,
    top_clients_arr_share_pct, arr_hhi, concentration_risk, avg_health_score, plan_coverage_pct,
    count_strategies_approved, pnl_revenue, pnl_ebita, ebita_margin_pct, rule_of_40,
    kpi_target_arr, kpi_target_nrr, kpi_target_grr, kpi_target_ebita_margin,
    kpi_target_rule_of_40, nrr_gap, grr_gap, ebita_margin_gap, rule_of_40_gap, planning_status
)
with
unit_rows as (
    select *
    from finsync_stage.business_unit_financials
    where run_id = %(run_id)s
),

client_rows as (
    select client_id, current_arr, health_score, is_unassigned
    from finsync_stage.account_plan_financials
    where run_id = %(run_id)s
),

kpi as (
    select
        max(target_value) filter (where metric = 'arr') as target_arr,
        max(target_value) filter (where metric = 'nrr') as target_nrr,
        max(target_value) filter (where metric = 'grr') as target_grr,
        max(target_value) filter (where metric = 'ebita_margin') as target_ebita_margin,
        max(target_value) filter (where metric = 'rule_of_40') as target_rule_of_40
    from planning_kpi_targets
    where fiscal_year = %(fiscal_year)s and business_unit is null
),

sums as (
    select
        count(*) as count_business_units,
        sum(count_territories) as count_territories,
        sum(count_clients) as count_clients,
        sum(count_active_clients) as count_active_clients,
        sum(count_segment_giant) as count_segment_giant,
        sum(count_segment_large) as count_segment_large,
        sum(count_segment_medium) as count_segment_medium,
        sum(count_segment_small) as count_segment_small,
        sum(count_segment_other) as count_segment_other,
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
        sum(count_at_risk_clients) as count_at_risk_clients,
        sum(arr_at_risk) as arr_at_risk,
        sum(count_risk_low) as count_risk_low,
        sum(count_risk_medium) as count_risk_medium,
        sum(count_risk_high) as count_risk_high,
        sum(count_risk_critical) as count_risk_critical,
        sum(count_plans_approved) as count_plans_approved,
        sum(count_plans_in_review) as count_plans_in_review,
        sum(count_plans_draft) as count_plans_draft,
        sum(count_plans_missing) as count_plans_missing,
        sum(count_strategies_approved) as count_strategies_approved,
        sum(pnl_revenue) as pnl_revenue,
        sum(pnl_ebita) as pnl_ebita,
        bool_or(planning_status <> 'not_started') as has_started
    from unit_rows
),

ranked as (
    select
        current_arr,
        row_number() over (order by current_arr desc, client_id) as arr_rank,
        sum(current_arr) over () as region_arr
    from client_rows
    where current_arr > 0
),

clients_summary as (
    -- The top 10 clients' share of the region's ARR, the HHI of client ARR shares, health.
    select
        (
            select 100 * sum(r.current_arr) filter (where r.arr_rank <= 10) / max(r.region_arr)
            from ranked as r
        ) as top_share_pct,
        (
            select sum(finsync_rules.hhi_term(r.current_arr, r.region_arr)) from ranked as r
        ) as hhi,
        avg(health_score) as avg_health_score,
        count(*) filter (where is_unassigned) as count_unassigned_clients
    from client_rows
),

derived as (
    select
        s.*,
        finsync_rules.growth_pct(s.current_arr, s.prior_year_arr) as arr_growth_pct,
        finsync_rules.share_pct(s.pnl_ebita, s.pnl_revenue) as ebita_margin_pct,
        finsync_rules.nrr_pct(
            s.starting_arr_3yr, s.expansion_arr_3yr, s.contraction_arr_3yr, s.churned_arr_3yr
        ) as nrr_3yr,
        finsync_rules.grr_pct(s.starting_arr_3yr, s.contraction_arr_3yr, s.churned_arr_3yr)
            as grr_3yr
    from sums as s
)

select
    %(run_id)s as run_id,
    %(fiscal_year)s as fiscal_year,
    'APAC' as region,
    %(as_of_date)s as financials_as_of_date,
    d.count_business_units,
    d.count_territories,
    c.count_unassigned_clients,
    d.count_clients,
    d.count_active_clients,
    d.count_segment_giant,
    d.count_segment_large,
    d.count_segment_medium,
    d.count_segment_small,
    d.count_segment_other,
    d.current_arr,
    d.target_arr,
    d.mrr,
    d.gap_to_target,
    d.prior_year_arr,
    d.q1_arr,
    d.q2_arr,
    d.q3_arr,
    d.q4_arr,
    d.q1_target_arr,
    d.q2_target_arr,
    d.q3_target_arr,
    d.q4_target_arr,
    d.revenue_software,
    d.revenue_ps,
    d.revenue_maintenance,
    d.revenue_hardware,
    d.total_revenue,
    d.revenue_to_date,
    d.lifetime_value,
    d.forecast_runrate,
    d.forecast_business_case,
    d.forecast_pipeline,
    d.expansion_pipeline,
    d.weighted_pipeline,
    d.gap_closure_business_case,
    d.gap_closure_pipeline,
    d.starting_arr_3yr,
    d.expansion_arr_3yr,
    d.contraction_arr_3yr,
    d.churned_arr_3yr,
    d.ar_balance,
    d.ar_current,
    d.ar_overdue,
    d.ar_over_90,
    d.renewal_q1_value,
    d.renewal_q2_value,
    d.renewal_q3_value,
    d.renewal_q4_value,
    d.count_at_risk_clients,
    d.arr_at_risk,
    d.count_risk_low,
    d.count_risk_medium,
    d.count_risk_high,
    d.count_risk_critical,
    d.count_plans_approved,
    d.count_plans_in_review,
    d.count_plans_draft,
    d.count_plans_missing,
    d.arr_growth_pct,
    finsync_rules.gap_coverage_pct(
        d.gap_to_target, d.gap_closure_business_case, d.gap_closure_pipeline
    ) as gap_coverage_pct,
    d.nrr_3yr,
    d.grr_3yr,
    finsync_rules.dso_days(d.ar_balance, d.revenue_to_date, %(days_elapsed)s) as dso_days,
    finsync_rules.collection_risk(d.ar_balance, d.ar_overdue, d.ar_over_90) as collection_risk,
    c.top_share_pct as top_clients_arr_share_pct,
    c.hhi as arr_hhi,
    finsync_rules.concentration_risk(c.hhi) as concentration_risk,
    c.avg_health_score,
    finsync_rules.share_pct(d.count_plans_approved, d.count_clients) as plan_coverage_pct,
    d.count_strategies_approved,
    d.pnl_revenue,
    d.pnl_ebita,
    d.ebita_margin_pct,
    d.arr_growth_pct + d.ebita_margin_pct as rule_of_40,
    k.target_arr as kpi_target_arr,
    k.target_nrr as kpi_target_nrr,
    k.target_grr as kpi_target_grr,
    k.target_ebita_margin as kpi_target_ebita_margin,
    k.target_rule_of_40 as kpi_target_rule_of_40,
    -- Gaps to the region's KPI targets: target minus actual (positive = still to close).
    k.target_nrr - d.nrr_3yr as nrr_gap,
    k.target_grr - d.grr_3yr as grr_gap,
    k.target_ebita_margin - d.ebita_margin_pct as ebita_margin_gap,
    k.target_rule_of_40 - (d.arr_growth_pct + d.ebita_margin_pct) as rule_of_40_gap,
    finsync_rules.planning_status(
        d.count_strategies_approved,
        d.count_territories,
        d.count_plans_approved,
        d.count_clients,
        d.has_started
    ) as planning_status
from derived as d
cross join clients_summary as c
cross join kpi as k
