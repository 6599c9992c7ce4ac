-- Rule: the FP&A file is the source of truth for budgeted amounts, so active budgets it no
-- longer lists are soft-deleted (deleted_at set, row and utilisation kept, restorable).
with
deleted as (
    update budget as b
    set deleted_at = now(), updated_at = now(), last_sync_id = %(sync_id)s
    from budget_diff as d
    where
        d.action = 'soft_delete' and b.budget_id = d.budget_id
        -- as in 03: found through the primary key, not by scanning every budget
        and b.budget_id = any(array(
            select x.budget_id from budget_diff as x where x.action = 'soft_delete'
        ))
    returning b.budget_id, b.deleted_at
)

insert into audit_log (budget_id, customer_id, sync_id, action, old_values, new_values, actor)
select
    d.budget_id, %(customer_id)s as customer_id, %(sync_id)s as sync_id, 'soft_delete' as action,
    jsonb_build_object('budgeted_amount', d.old_amount, 'currency', d.old_currency) as old_values,
    jsonb_build_object('deleted_at', x.deleted_at) as new_values,
    %(actor)s as actor
from budget_diff as d
inner join deleted as x on x.budget_id = d.budget_id
