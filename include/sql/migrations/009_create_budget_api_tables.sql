-- Budget service (the budget API): tokens, money movements, idempotency, FX, policies.
-- budget_utilization (008) holds the running totals; these tables say how they got there.

-- API tokens, stored as SHA-256 of a 256-bit random secret (never the secret itself).
-- scope 'customer' sees and moves one customer's budgets; 'admin' manages every config.
create table if not exists budget_api_token (
    token_id bigserial primary key,
    token_hash text not null unique,
    name text not null,
    scope text not null check (scope in ('customer', 'admin')),
    customer_id text,
    created_at timestamptz not null default now(),
    revoked_at timestamptz,
    check ((scope = 'customer') = (customer_id is not null))
);

-- Per-customer over-budget policy: 'block' (default when a customer has no row) or
-- 'tolerance' (allow up to tolerance_pct of the budgeted amount over, with a warning).
create table if not exists budget_customer_policy (
    customer_id text primary key,
    over_budget_policy text not null default 'block'
        check (over_budget_policy in ('block', 'tolerance')),
    tolerance_pct numeric(5, 2) not null default 0 check (tolerance_pct between 0 and 100),
    updated_at timestamptz not null default now()
);

-- FX: 1 unit of from_currency = rate units of to_currency, from valid_from on.
create table if not exists budget_fx_rate (
    from_currency text not null check (from_currency ~ '^[A-Z]{3}$'),
    to_currency text not null check (to_currency ~ '^[A-Z]{3}$'),
    valid_from date not null,
    rate numeric(20, 10) not null check (rate > 0),
    primary key (from_currency, to_currency, valid_from)
);

-- One row per reservation or direct commitment; `amount` is in the budget's currency and is
-- what this row currently holds in budget_utilization (reserved or committed).
create table if not exists budget_reservation (
    reservation_id bigserial primary key,
    customer_id text not null,
    budget_id bigint not null references budget (budget_id),
    status text not null check (status in ('reserved', 'committed', 'released')),
    amount numeric(18, 2) not null check (amount > 0),
    request_amount numeric(18, 2) not null,
    request_currency text not null,
    fx_rate numeric(20, 10) not null,
    reference text,
    actor text not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index if not exists budget_reservation_budget_idx on budget_reservation (budget_id);

-- Every money movement, append-only: what moved, between which buckets, who asked.
create table if not exists budget_utilization_log (
    entry_id bigserial primary key,
    reservation_id bigint not null references budget_reservation (reservation_id),
    budget_id bigint not null,
    action text not null check (action in ('reserve', 'commit', 'release')),
    reserved_delta numeric(18, 2) not null,
    committed_delta numeric(18, 2) not null,
    actor text not null,
    idempotency_key text,
    created_at timestamptz not null default now()
);

-- Idempotency: the first outcome of (customer, key) is stored and replayed on retries.
create table if not exists budget_api_request (
    customer_id text not null,
    idempotency_key text not null,
    operation text not null,
    request_sha256 text not null,
    status_code int,
    response jsonb,
    created_at timestamptz not null default now(),
    primary key (customer_id, idempotency_key)
);

-- Budget checks look budgets up case-insensitively by department and sub-category.
create index if not exists budget_lookup_idx on budget (
    customer_id, lower(department), lower(coalesce(sub_category, '')), fiscal_period
) where deleted_at is null;
