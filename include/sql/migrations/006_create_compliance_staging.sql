-- Write-audit-publish staging for the planning compliance sync (see 004 for the pattern).
-- A staging table's columns (minus run_id) are exactly the columns the sync owns in its
-- target, typed as there (tests/dags check it). The sole-owned targets are copied whole; the
-- shared tables get explicit staging tables holding only their keys and the compliance
-- columns, so the compliance sync can never overwrite a financials figure.

create table if not exists finsync_stage.account_plan_event_requirements (
    run_id text not null,
    like public.account_plan_event_requirements excluding defaults excluding constraints
);
alter table finsync_stage.account_plan_event_requirements drop column if exists synced_at;

create table if not exists finsync_stage.territory_compliance_summary (
    run_id text not null,
    like public.territory_compliance_summary excluding defaults excluding constraints
);
alter table finsync_stage.territory_compliance_summary drop column if exists synced_at;

create table if not exists finsync_stage.business_unit_compliance (
    run_id text not null,
    business_unit text,
    fiscal_year int,
    compliance_as_of_date date,
    overall_compliance_percentage numeric(12, 2),
    count_compliance_pairs int,
    count_pairs_critical int,
    count_pairs_at_risk int,
    count_pairs_compliant int,
    count_pairs_exceeded int,
    count_required_events int,
    count_credited_events int,
    count_segmented_clients int,
    count_unsegmented_clients int,
    count_clients_compliance_at_risk int,
    count_clients_plan_approved int,
    planning_coverage_pct numeric(12, 2),
    count_territory_strategies_approved int
);

create table if not exists finsync_stage.apac_compliance (
    run_id text not null,
    fiscal_year int,
    compliance_as_of_date date,
    actual_compliance numeric(12, 2),
    target_compliance numeric(12, 2),
    compliance_gap numeric(12, 2),
    count_compliance_pairs int,
    count_pairs_critical int,
    count_pairs_at_risk int,
    count_pairs_compliant int,
    count_pairs_exceeded int,
    count_required_events int,
    count_credited_events int,
    count_segmented_clients int,
    count_unsegmented_clients int,
    count_clients_compliance_at_risk int,
    count_clients_plan_approved int,
    planning_coverage_pct numeric(12, 2),
    count_territory_strategies_approved int
);

create index if not exists account_plan_event_requirements_run_idx
    on finsync_stage.account_plan_event_requirements (run_id, territory);
create index if not exists territory_compliance_summary_run_idx
    on finsync_stage.territory_compliance_summary (run_id);
create index if not exists business_unit_compliance_run_idx
    on finsync_stage.business_unit_compliance (run_id);
create index if not exists apac_compliance_run_idx on finsync_stage.apac_compliance (run_id);
