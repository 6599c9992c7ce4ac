-- The customer's own label of each period (docs/budget_writeback.md): the period cell of a
-- long export (`2026-01`, `Jan-26`, `P01 FY26`) or the period header of a wide one, and the
-- Year cell beside it when the export splits the year off. Written in the import's
-- transaction, so it always describes budgets that were imported; write-back writes each
-- period as its label here (a period never imported: finsync's calendar label).
create table if not exists budget_period_label (
    config_id bigint not null references budget_data_source_config (config_id),
    fiscal_period text not null,
    year_label text,
    period_label text not null,
    sync_id bigint,
    updated_at timestamptz not null default now(),
    primary key (config_id, fiscal_period)
);
