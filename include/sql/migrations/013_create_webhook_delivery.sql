-- Webhooks (docs/webhooks.md): after each sync attempt, and when a budget crosses an alert
-- threshold, finsync POSTs a signed event (Standard Webhooks) to each endpoint the customer's
-- config names. Endpoints are config data (URL and the Airflow connection holding the signing
-- secret); the secret itself lives only in that connection.

alter table budget_data_source_config
add column if not exists webhooks jsonb not null default '[]'::jsonb;

-- One row per (event, endpoint): the body exactly as signed and sent on every try, and where
-- its delivery stands. event_id is deterministic (subject, type, endpoint), so announcing the
-- same sync attempt again creates nothing new: receivers see each event id once per endpoint.
create table if not exists webhook_event (
    event_id text primary key,
    customer_id text not null,
    config_id bigint,
    event_type text not null,
    -- What the event is about: 'sync:<sync_id>' or 'threshold:<crossing_id>'.
    subject text not null,
    endpoint_url text not null,
    conn_id text not null,
    payload text not null,
    status text not null default 'pending'
    check (status in ('pending', 'delivered', 'failed')),
    attempts int not null default 0,
    -- Due again from then on (the retry DAG sends what is due; a sender holds a short lease
    -- by moving it forward while it tries).
    next_attempt_at timestamptz not null default now(),
    -- Retried with back-off until then (a day after the event), then given up as failed.
    give_up_at timestamptz not null default now() + interval '1 day',
    delivered_at timestamptz,
    last_error text,
    created_at timestamptz not null default now()
);

create index if not exists webhook_event_due_idx on webhook_event (next_attempt_at)
where status = 'pending';

create index if not exists webhook_event_customer_idx on webhook_event (
    customer_id, endpoint_url, created_at
);

-- Every delivery attempt (one HTTP POST), append-only.
create table if not exists webhook_delivery (
    delivery_id bigserial primary key,
    event_id text not null references webhook_event (event_id),
    attempt int not null,
    -- 'sync' (the first try, right after the attempt), 'retry' (the budget_webhooks DAG).
    sent_by text not null,
    attempted_at timestamptz not null default now(),
    duration_ms int not null,
    status_code int,
    is_success boolean not null,
    error text
);

create index if not exists webhook_delivery_event_idx on webhook_delivery (event_id, attempt);
