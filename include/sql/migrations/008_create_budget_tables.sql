-- Budget sync (budget-sync-contract.md). finsync owns these tables.

create table if not exists budget_data_source_config (
    config_id bigserial primary key,
    customer_id text not null,
    source_type text not null check (source_type in ('local', 'sftp', 's3', 'upload')),
    enabled boolean not null default true,
    frequency text not null default 'daily'
        check (frequency in ('hourly', 'every_4_hours', 'every_12_hours', 'daily', 'manual')),
    -- Connection id, path or bucket/prefix, glob, sheet, header hints. Never a credential:
    -- those live in Airflow connections, and this check refuses the usual secret keys.
    source_config jsonb not null default '{}'::jsonb check (
        not (source_config ?| array[
            'password', 'passwd', 'secret', 'secret_key', 'aws_secret_access_key', 'token',
            'private_key', 'api_key', 'access_key'
        ])
    ),
    column_mapping jsonb,
    column_mapping_version int not null default 0,
    fiscal_year_start_month int not null default 1 check (fiscal_year_start_month between 1 and 12),
    default_currency text not null default 'USD' check (default_currency ~ '^[A-Z]{3}$'),
    last_sync_at timestamptz,
    last_sync_status text,
    next_sync_at timestamptz,
    -- Beyond the contract (all defaulted, so a plain insert of its columns works):
    error_tolerance_pct numeric(5, 2) not null default 0
        check (error_tolerance_pct between 0 and 100),
    max_soft_delete_pct numeric(5, 2) not null default 20
        check (max_soft_delete_pct between 0 and 100),
    settle_seconds int not null default 60 check (settle_seconds >= 0),
    notify jsonb not null default '{}'::jsonb,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (customer_id, source_type)
);

-- Every confirmed mapping, versioned: reused while a file's headers still match.
create table if not exists budget_column_mapping_history (
    config_id bigint not null references budget_data_source_config (config_id),
    version int not null,
    headers jsonb not null,
    column_mapping jsonb not null,
    confirmed_by text not null,
    confirmed_at timestamptz not null default now(),
    primary key (config_id, version)
);

create table if not exists budget (
    budget_id bigserial primary key,
    customer_id text not null,
    department text not null,
    sub_category text,
    fiscal_period text not null check (fiscal_period ~ '^FY[0-9]{4}(-Q[1-4]|-M(0[1-9]|1[0-2]))?$'),
    budgeted_amount numeric(18, 2) not null,
    currency text not null check (currency ~ '^[A-Z]{3}$'),
    source text,
    deleted_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    last_sync_id bigint
);
-- Rule: one budget per (customer, department, sub-category, period), NULL sub-categories
-- equal (normalisation never stores an empty sub-category, so '' cannot collide with NULL).
create unique index if not exists budget_natural_key
    on budget (customer_id, department, coalesce(sub_category, ''), fiscal_period);

create table if not exists budget_utilization (
    budget_id bigint primary key references budget (budget_id),
    committed_amount numeric(18, 2) not null default 0,
    reserved_amount numeric(18, 2) not null default 0,
    updated_at timestamptz not null default now()
);

create table if not exists sync_history (
    sync_id bigserial primary key,
    customer_id text not null,
    config_id bigint references budget_data_source_config (config_id),
    status text not null
        check (status in ('running', 'success', 'partial', 'failed', 'unchanged', 'needs_review')),
    start_time timestamptz not null default now(),
    end_time timestamptz,
    duration_ms bigint,
    file_name text,
    file_sha256 text,
    total_rows int,
    created_count int not null default 0,
    updated_count int not null default 0,
    unchanged_count int not null default 0,
    soft_deleted_count int not null default 0,
    restored_count int not null default 0,
    error_count int not null default 0,
    errors jsonb not null default '[]'::jsonb,
    triggered_by text not null default 'schedule'
        check (triggered_by in ('schedule', 'manual', 'api')),
    message text,
    reject_file text,
    airflow_run_id text,
    -- needs_review: what a person must confirm (proposed mapping, or deletions to approve)
    review jsonb
);
create index if not exists sync_history_customer_idx on sync_history (customer_id, start_time desc);

create table if not exists audit_log (
    audit_id bigserial primary key,
    budget_id bigint not null,
    customer_id text not null,
    sync_id bigint,
    action text not null check (action in ('create', 'update', 'soft_delete', 'restore')),
    old_values jsonb,
    new_values jsonb,
    actor text not null,
    created_at timestamptz not null default now()
);
create index if not exists audit_log_budget_idx on audit_log (budget_id);
create index if not exists audit_log_sync_idx on audit_log (sync_id);

-- Ledger of files seen per source: exactly-once processing by (name, size, mtime, sha256).
create table if not exists budget_file_ledger (
    config_id bigint not null references budget_data_source_config (config_id),
    file_name text not null,
    size_bytes bigint not null,
    modified_at timestamptz not null,
    sha256 text not null,
    sync_id bigint,
    status text not null,
    processed_at timestamptz not null default now(),
    primary key (config_id, file_name, size_bytes, modified_at, sha256)
);
