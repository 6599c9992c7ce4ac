-- Threshold alerts (docs/budget_service.md): when a reservation or commitment takes a budget's
-- utilisation ((committed + reserved) / budgeted) to or past one of the customer's thresholds
-- (default 80 % and 100 %), the customer is told once per crossing, not once per request.

alter table budget_data_source_config
add column if not exists alert_thresholds_pct numeric(7, 2)[] not null default '{80,100}';

-- One row per crossing, written by the booking's own transaction. A budget has at most one
-- open crossing per threshold (reset_at null); when its utilisation falls back below the
-- threshold (a release, a partial commit) the crossing is closed, so the next rise past it is
-- a new crossing and a new alert. announced_at: when the budget_webhooks DAG turned it into
-- webhook events and notifications (delivery never runs inside the request).
create table if not exists budget_threshold_crossing (
    crossing_id bigserial primary key,
    budget_id bigint not null references budget (budget_id),
    customer_id text not null,
    threshold_pct numeric(7, 2) not null,
    utilization_pct numeric(9, 2) not null,
    budgeted_amount numeric(18, 2) not null,
    committed_amount numeric(18, 2) not null,
    reserved_amount numeric(18, 2) not null,
    crossed_at timestamptz not null default now(),
    reset_at timestamptz,
    announced_at timestamptz
);

create unique index if not exists budget_threshold_crossing_open_idx
on budget_threshold_crossing (budget_id, threshold_pct) where reset_at is null;

create index if not exists budget_threshold_crossing_new_idx
on budget_threshold_crossing (crossing_id) where announced_at is null;
