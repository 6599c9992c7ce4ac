-- Rule: the FP&A file is the source of truth for budgeted amounts, so active budgets it no
-- longer lists are soft-deleted (deleted_at set, row and utilisation kept, restorable).
with
missing as (
    select b.budget_id, b.budgeted_amount, b.currency
    from budget as b
    where
        b.customer_id = %(customer_id)s
        and b.deleted_at is null
        and not exists (
            select 1 from budget_stage as s
            where s.department = b.department
                and coalesce(s.sub_category, '') = coalesce(b.sub_category, '')
                and s.fiscal_period = b.fiscal_period
        )
),

deleted as (
    update budget as b
    set deleted_at = now(), updated_at = now(), last_sync_id = %(sync_id)s
    from missing as m
    where b.budget_id = m.budget_id
    returning b.budget_id, b.deleted_at
)

insert into audit_log (budget_id, customer_id, sync_id, action, old_values, new_values, actor)
select
    m.budget_id, %(customer_id)s, %(sync_id)s, 'soft_delete',
    jsonb_build_object('budgeted_amount', m.budgeted_amount, 'currency', m.currency),
    jsonb_build_object('deleted_at', d.deleted_at),
    %(actor)s
from missing as m
inner join deleted as d on d.budget_id = m.budget_id
