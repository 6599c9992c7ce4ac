-- Changed amounts or currencies, and restored budgets (with the file's amount). One audit
-- row each with old and new values. budget_utilization is never touched: committed and
-- reserved money stays as it is.
with
updated as (
    update budget as b
    set
        budgeted_amount = d.budgeted_amount,
        currency = d.currency,
        deleted_at = null,
        updated_at = now(),
        source = %(source)s,
        last_sync_id = %(sync_id)s
    from budget_diff as d
    where
        d.action in ('update', 'restore') and b.budget_id = d.budget_id
        -- the changed rows' ids as an index condition: the few changed budgets are found
        -- through the primary key, not by scanning every budget
        and b.budget_id = any(array(
            select x.budget_id from budget_diff as x where x.action in ('update', 'restore')
        ))
    returning b.budget_id
)

insert into audit_log (budget_id, customer_id, sync_id, action, old_values, new_values, actor)
select
    d.budget_id, %(customer_id)s as customer_id, %(sync_id)s as sync_id, d.action,
    jsonb_build_object(
        'budgeted_amount', d.old_amount, 'currency', d.old_currency,
        'deleted_at', d.old_deleted_at
    ) as old_values,
    jsonb_build_object('budgeted_amount', d.budgeted_amount, 'currency', d.currency) as new_values,
    %(actor)s as actor
from budget_diff as d
inner join updated as u on u.budget_id = d.budget_id
