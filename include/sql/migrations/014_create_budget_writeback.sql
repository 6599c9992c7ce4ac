-- Utilisation write-back (docs/budget_writeback.md): finsync writes each active budget's
-- budgeted, committed, reserved and available amounts back to the customer's source location,
-- so the FP&A tool can import what procurement has already used.

-- A config's write-back settings (folder under the source location, formats, frequency,
-- period labels), written only through finsync.budget.config; NULL: no write-back.
alter table budget_data_source_config
    add column if not exists writeback jsonb;

-- One row per write-back attempt, like sync_history for a sync. `files` lists what was
-- written ({name, format, size_bytes, modified_at, sha256}): the size and modified time are
-- how the next write-back recognises its own file (anything else under that name is the
-- customer's and is never overwritten). Rule: an attempt whose content_sha256 equals the
-- last successful one's writes nothing and ends `unchanged`.
create table if not exists budget_writeback_history (
    writeback_id bigserial primary key,
    customer_id text not null,
    config_id bigint not null references budget_data_source_config (config_id),
    status text not null check (status in ('running', 'success', 'unchanged', 'failed')),
    start_time timestamptz not null default now(),
    end_time timestamptz,
    duration_ms bigint,
    triggered_by text not null default 'schedule'
        check (triggered_by in ('schedule', 'manual', 'api')),
    location text,
    budget_count int,
    content_sha256 text,
    files jsonb not null default '[]'::jsonb,
    message text,
    airflow_run_id text
);
create index if not exists budget_writeback_history_config_idx
    on budget_writeback_history (config_id, start_time desc);
