-- Source tables of the finance data contract (read only for finsync).
-- They normally exist in the customer's warehouse already; `create ... if not exists`
-- makes them for the demo and the tests and leaves a customer's own tables alone.
-- No check constraints here on purpose: customers' tables do not have them, so each sync
-- validates the rows it reads and names the offending ones (see 00_check_sources.sql).

create table if not exists clients (
    client_id text primary key,
    client_name text unique,
    cse_name text,
    segment text,
    country text,
    customer_since date,
    status text
);

create table if not exists burc_client_revenue_detail (
    client_id text,
    fiscal_year int,
    fiscal_month int,
    revenue_type text,
    amount numeric(18, 2)
);
create index if not exists burc_client_revenue_detail_fy_idx
    on burc_client_revenue_detail (fiscal_year, client_id);

create table if not exists burc_arr_tracking (
    client_id text,
    fiscal_year int,
    fiscal_month int,
    arr numeric(18, 2),
    target_arr numeric(18, 2)
);
create index if not exists burc_arr_tracking_fy_idx on burc_arr_tracking (fiscal_year, client_id);

create table if not exists burc_nrr_metrics (
    client_id text,
    fiscal_year int,
    starting_arr numeric(18, 2),
    expansion_arr numeric(18, 2),
    contraction_arr numeric(18, 2),
    churned_arr numeric(18, 2)
);
create index if not exists burc_nrr_metrics_fy_idx on burc_nrr_metrics (fiscal_year, client_id);

create table if not exists burc_attrition_risk (
    client_id text,
    fiscal_year int,
    risk_level text,
    arr_at_risk numeric(18, 2),
    expected_date date
);
create index if not exists burc_attrition_risk_fy_idx on burc_attrition_risk (fiscal_year, client_id);

create table if not exists burc_pipeline_deals (
    deal_id text primary key,
    client_id text,
    fiscal_year int,
    deal_type text,
    category text,
    stage text,
    probability numeric,
    value numeric(18, 2),
    expected_close_date date,
    status text
);
create index if not exists burc_pipeline_deals_fy_idx on burc_pipeline_deals (fiscal_year, client_id);

create table if not exists burc_contracts (
    contract_id text primary key,
    client_id text,
    start_date date,
    end_date date,
    annual_value numeric(18, 2),
    status text
);
create index if not exists burc_contracts_client_idx on burc_contracts (client_id, end_date);

create table if not exists aging_accounts (
    client_id text,
    as_of_date date,
    current_amount numeric(18, 2),
    days_1_30 numeric(18, 2),
    days_31_60 numeric(18, 2),
    days_61_90 numeric(18, 2),
    days_over_90 numeric(18, 2)
);
create index if not exists aging_accounts_client_idx on aging_accounts (client_id, as_of_date);

create table if not exists client_health_history (
    client_id text,
    snapshot_date date,
    health_score int
);
create index if not exists client_health_history_client_idx
    on client_health_history (client_id, snapshot_date);

create table if not exists burc_monthly_forecast (
    client_id text,
    fiscal_year int,
    fiscal_month int,
    category text,
    amount numeric(18, 2)
);
create index if not exists burc_monthly_forecast_fy_idx on burc_monthly_forecast (fiscal_year, client_id);

create table if not exists burc_bu_pnl (
    business_unit text,
    fiscal_year int,
    revenue numeric(18, 2),
    ebita numeric(18, 2)
);

create table if not exists planning_kpi_targets (
    fiscal_year int,
    business_unit text,
    metric text,
    target_value numeric
);

-- Segmentation sources
create table if not exists segmentation_tiers (
    tier_id text primary key,
    tier_name text,
    tier_level int
);

create table if not exists client_segmentation (
    client_id text,
    tier_id text,
    cse_name text,
    effective_from date,
    effective_to date
);
create index if not exists client_segmentation_client_idx
    on client_segmentation (client_id, effective_from);

create table if not exists segmentation_event_types (
    event_type_id text primary key,
    code text,
    name text
);

create table if not exists tier_event_requirements (
    tier_id text,
    event_type_id text,
    required_per_year int
);

create table if not exists segmentation_events (
    event_id text primary key,
    client_id text,
    event_type_id text,
    event_date date,
    status text
);
create index if not exists segmentation_events_date_idx on segmentation_events (event_date);

create table if not exists segmentation_event_compliance (
    client_id text,
    event_type_id text,
    fiscal_year int,
    adjustment_count int
);

create table if not exists account_plans (
    plan_id text primary key,
    client_id text,
    fiscal_year int,
    cse_name text,
    status text
);
create index if not exists account_plans_fy_idx on account_plans (fiscal_year, client_id);

create table if not exists territory_strategies (
    territory text,
    fiscal_year int,
    status text
);
