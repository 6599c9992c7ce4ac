-- The audit rows of a new customer's first import (importer._finish_new): its rows were COPYed
-- straight into `budget` in this transaction, under the customer's lock, and the customer had
-- no budget before, so every budget of the customer is one this import created. Each row is
-- 04_create_budgets.sql's audit row of a create; that file takes its budgets from its insert's
-- RETURNING set instead (an existing customer's new budgets cannot be told apart by a scan).
insert into audit_log (budget_id, customer_id, sync_id, action, old_values, new_values, actor)
select
    budget_id,
    customer_id,
    %(sync_id)s as sync_id,
    'create' as action,
    null as old_values,
    jsonb_build_object(
        'department', department, 'sub_category', sub_category, 'fiscal_period', fiscal_period,
        'budgeted_amount', budgeted_amount, 'currency', currency
    ) as new_values,
    %(actor)s as actor
from budget
where customer_id = %(customer_id)s
