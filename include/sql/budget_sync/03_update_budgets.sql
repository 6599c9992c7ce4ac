-- Active budgets whose amount or currency changed (diff first: unchanged rows are not
-- touched), and soft-deleted budgets that come back in the file (restored, with the file's
-- amount). One audit row each, with the old and new values. budget_utilization is never
-- touched: committed and reserved money stays as it is.
with
changes as (
    select
        b.budget_id,
        b.budgeted_amount as old_amount,
        b.currency as old_currency,
        b.deleted_at as old_deleted_at,
        s.budgeted_amount as new_amount,
        s.currency as new_currency,
        case when b.deleted_at is null then 'update' else 'restore' end as action
    from budget as b
    inner join budget_stage as s
        on b.department = s.department
        and coalesce(b.sub_category, '') = coalesce(s.sub_category, '')
        and b.fiscal_period = s.fiscal_period
    where
        b.customer_id = %(customer_id)s
        and (
            b.deleted_at is not null
            or (b.budgeted_amount, b.currency) is distinct from (s.budgeted_amount, s.currency)
        )
),

updated as (
    update budget as b
    set
        budgeted_amount = c.new_amount,
        currency = c.new_currency,
        deleted_at = null,
        updated_at = now(),
        source = %(source)s,
        last_sync_id = %(sync_id)s
    from changes as c
    where b.budget_id = c.budget_id
    returning b.budget_id
)

insert into audit_log (budget_id, customer_id, sync_id, action, old_values, new_values, actor)
select
    c.budget_id, %(customer_id)s, %(sync_id)s, c.action,
    jsonb_build_object(
        'budgeted_amount', c.old_amount, 'currency', c.old_currency,
        'deleted_at', c.old_deleted_at
    ),
    jsonb_build_object('budgeted_amount', c.new_amount, 'currency', c.new_currency),
    %(actor)s
from changes as c
inner join updated as u on u.budget_id = c.budget_id
