-- New budgets (keys the customer never had), each with its audit row (a new customer's
-- first import writes the same audit rows from 04_audit_new_customer.sql).
with
created as (
    insert into budget (
        customer_id, department, sub_category, fiscal_period, budgeted_amount, currency,
        source, last_sync_id
    )
    select
        %(customer_id)s as customer_id,
        department, sub_category, fiscal_period, budgeted_amount, currency,
        %(source)s as source,
        %(sync_id)s as last_sync_id
    from budget_diff
    where action = 'create'
    returning budget_id, department, sub_category, fiscal_period, budgeted_amount, currency
)

insert into audit_log (budget_id, customer_id, sync_id, action, old_values, new_values, actor)
select
    budget_id,
    %(customer_id)s as customer_id,
    %(sync_id)s as sync_id,
    'create' as action,
    null as old_values,
    jsonb_build_object(
        'department', department, 'sub_category', sub_category, 'fiscal_period', fiscal_period,
        'budgeted_amount', budgeted_amount, 'currency', currency
    ) as new_values,
    %(actor)s as actor
from created
