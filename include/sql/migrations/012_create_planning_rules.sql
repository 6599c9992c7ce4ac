-- The planning syncs' shared rules, one definition each (docs/metrics.md, docs/compliance.md),
-- called by include/sql/planning_*/ at every level instead of repeating the formula there.
-- Each is one SQL expression, immutable, parallel safe and not strict, so the planner inlines
-- it into the calling statement: the same plan and figures as the formula written out.
-- Amount arguments are numeric (an int argument is cast exactly); percentages are per cent.
create schema if not exists finsync_rules;

-- Year-on-year growth, per cent: null without a prior figure (or a prior figure of 0).
create or replace function finsync_rules.growth_pct(current_value numeric, prior_value numeric)
returns numeric
language sql immutable parallel safe
return 100 * (current_value - prior_value) / nullif(prior_value, 0);

-- A part's share of a whole, per cent (coverage, margins, contribution); null for a whole of 0.
create or replace function finsync_rules.share_pct(part numeric, whole numeric)
returns numeric
language sql immutable parallel safe
return 100.0 * part / nullif(whole, 0);

-- Net revenue retention over the bridge years, per cent of the starting ARR.
create or replace function finsync_rules.nrr_pct(
    starting_arr numeric, expansion_arr numeric, contraction_arr numeric, churned_arr numeric
)
returns numeric
language sql immutable parallel safe
return 100 * (starting_arr + expansion_arr - contraction_arr - churned_arr)
/ nullif(starting_arr, 0);

-- Gross revenue retention: as NRR without expansion (at most 100 for sane sources).
create or replace function finsync_rules.grr_pct(
    starting_arr numeric, contraction_arr numeric, churned_arr numeric
)
returns numeric
language sql immutable parallel safe
return 100 * (starting_arr - contraction_arr - churned_arr) / nullif(starting_arr, 0);

-- Gap coverage: how much of a positive gap to target the weighted gap-closure deals would
-- close, per cent; null when there is no gap to close.
create or replace function finsync_rules.gap_coverage_pct(
    gap_to_target numeric, gap_closure_business_case numeric, gap_closure_pipeline numeric
)
returns numeric
language sql immutable parallel safe
return case
    when gap_to_target > 0
        then 100 * (gap_closure_business_case + gap_closure_pipeline) / gap_to_target
end;

-- DSO: receivables over the average daily revenue of the fiscal year to date.
create or replace function finsync_rules.dso_days(
    ar_balance numeric, revenue_to_date numeric, days_elapsed integer
)
returns numeric
language sql immutable parallel safe
return case
    when revenue_to_date > 0 and days_elapsed > 0
        then ar_balance * days_elapsed / revenue_to_date
end;

-- Collection risk from the overdue share of the balance; 'none' without a balance.
create or replace function finsync_rules.collection_risk(
    ar_balance numeric, ar_overdue numeric, ar_over_90 numeric
)
returns text
language sql immutable parallel safe
return case
    when coalesce(ar_balance, 0) <= 0 then 'none'
    when ar_over_90 >= 0.25 * ar_balance or ar_overdue >= 0.5 * ar_balance then 'high'
    when ar_overdue >= 0.2 * ar_balance or ar_over_90 > 0 then 'medium'
    else 'low'
end;

-- One client's term of the Herfindahl-Hirschman index: its ARR share (per cent) squared.
-- The index is the sum over the clients with ARR (0-10,000).
create or replace function finsync_rules.hhi_term(arr numeric, total_arr numeric)
returns numeric
language sql immutable parallel safe
return power(100 * arr / total_arr, 2);

-- Concentration risk from the HHI: high from 2,500, moderate from 1,500; null without ARR.
create or replace function finsync_rules.concentration_risk(hhi numeric)
returns text
language sql immutable parallel safe
return case
    when hhi is null then null
    when hhi >= 2500 then 'high'
    when hhi >= 1500 then 'moderate'
    else 'low'
end;

-- Planning status of a business unit or the region: approved when every territory strategy is
-- approved and at least 80 per cent of clients have an approved account plan; in progress once
-- anything has started.
create or replace function finsync_rules.planning_status(
    count_strategies_approved numeric,
    count_territories numeric,
    count_plans_approved numeric,
    count_clients numeric,
    has_started boolean
)
returns text
language sql immutable parallel safe
return case
    when
        count_strategies_approved = count_territories
        and count_plans_approved >= 0.8 * count_clients
        then 'approved'
    when has_started then 'in_progress'
    else 'not_started'
end;

-- Compliance status from credited (or completed) against required events: critical < 50 %,
-- at_risk 50 to < 80 %, compliant 80 to < 100 %, exceeded >= 100 % (compared exactly, in whole
-- numbers, before rounding); null without a requirement.
create or replace function finsync_rules.compliance_status(credited numeric, required numeric)
returns text
language sql immutable parallel safe
return case
    when required is null then null
    when 100 * credited < 50 * required then 'critical'
    when 100 * credited < 80 * required then 'at_risk'
    when credited < required then 'compliant'
    else 'exceeded'
end;

-- The fiscal month (1-12) of a day in the fiscal year starting on year_start, as
-- finsync.fiscal.fiscal_month_of; months before year_start give 0 or less, after it 13 or more.
create or replace function finsync_rules.fiscal_month(day date, year_start date)
returns integer
language sql immutable parallel safe
return (extract(year from day)::integer * 12 + extract(month from day)::integer)
- (extract(year from year_start)::integer * 12 + extract(month from year_start)::integer)
+ 1;

-- The fiscal quarter (1-4) of a day in the fiscal year starting on year_start.
create or replace function finsync_rules.fiscal_quarter(day date, year_start date)
returns integer
language sql immutable parallel safe
return (finsync_rules.fiscal_month(day, year_start) - 1) / 3 + 1;
