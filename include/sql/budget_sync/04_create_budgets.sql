-- New budgets (keys the customer never had), each with its audit row.
with
created as (
    insert into budget (
        customer_id, department, sub_category, fiscal_period, budgeted_amount, currency,
        source, last_sync_id
    )
    select
        %(customer_id)s, s.department, s.sub_category, s.fiscal_period, s.budgeted_amount,
        s.currency, %(source)s, %(sync_id)s
    from budget_stage as s
    where not exists (
        select 1 from budget as b
        where b.customer_id = %(customer_id)s and b.department = s.department
            and coalesce(b.sub_category, '') = coalesce(s.sub_category, '')
            and b.fiscal_period = s.fiscal_period
    )
    returning budget_id, department, sub_category, fiscal_period, budgeted_amount, currency
)

insert into audit_log (budget_id, customer_id, sync_id, action, old_values, new_values, actor)
select
    budget_id, %(customer_id)s, %(sync_id)s, 'create', null,
    jsonb_build_object(
        'department', department, 'sub_category', sub_category, 'fiscal_period', fiscal_period,
        'budgeted_amount', budgeted_amount, 'currency', currency
    ),
    %(actor)s
from created
