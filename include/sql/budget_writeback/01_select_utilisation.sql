-- A customer's active budgets with what procurement has used of each (the write-back's rows).
-- Rule: a budget never booked has no budget_utilization row and counts zero committed and zero
-- reserved, as the budget service counts it (api/money.py); available = budgeted - committed -
-- reserved is computed from these three (writeback.available), as the service computes it.
select
    b.budget_id,
    b.department,
    b.sub_category,
    b.fiscal_period,
    b.currency,
    b.budgeted_amount,
    coalesce(u.committed_amount, 0)::numeric(18, 2) as committed_amount,
    coalesce(u.reserved_amount, 0)::numeric(18, 2) as reserved_amount
from budget as b
left join budget_utilization as u on b.budget_id = u.budget_id
where
    b.customer_id = %(customer_id)s
    and b.deleted_at is null
order by b.department, coalesce(b.sub_category, ''), b.fiscal_period
