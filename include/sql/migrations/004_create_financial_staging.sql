-- Write-audit-publish staging for the planning financials sync: one row set per Airflow run
-- (`run_id`), computed level by level, validated, then published in one transaction.
-- A staging table's columns (minus run_id) are exactly the columns the sync owns in its
-- target; tests/unit check that their types match the target's.
create schema if not exists finsync_stage;

create table if not exists finsync_stage.account_plan_financials (
    run_id text not null,
    like public.account_plan_financials excluding defaults excluding constraints
);
alter table finsync_stage.account_plan_financials drop column if exists synced_at;

create table if not exists finsync_stage.territory_strategy_financials (
    run_id text not null,
    like public.territory_strategy_financials excluding defaults excluding constraints
);
alter table finsync_stage.territory_strategy_financials drop column if exists synced_at;

create table if not exists finsync_stage.business_unit_financials (
    run_id text not null,
    like public.business_unit_planning excluding defaults excluding constraints
);
alter table finsync_stage.business_unit_financials
    drop column if exists financials_synced_at,
    drop column if exists synced_at;

create table if not exists finsync_stage.apac_financials (
    run_id text not null,
    like public.apac_planning_goals excluding defaults excluding constraints
);
alter table finsync_stage.apac_financials
    drop column if exists financials_synced_at,
    drop column if exists synced_at;

create index if not exists account_plan_financials_run_idx
    on finsync_stage.account_plan_financials (run_id, territory);
create index if not exists territory_strategy_financials_run_idx
    on finsync_stage.territory_strategy_financials (run_id);
create index if not exists business_unit_financials_run_idx
    on finsync_stage.business_unit_financials (run_id);
create index if not exists apac_financials_run_idx on finsync_stage.apac_financials (run_id);
