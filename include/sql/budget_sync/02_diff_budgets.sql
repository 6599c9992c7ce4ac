-- Diff first: one join of the file's rows with the customer's budgets decides each key's
-- action; only keys that change are kept, so the writes below touch nothing else.
-- Rules: a key new to the customer is created; an active budget with another amount or
-- currency is updated; a soft-deleted budget that is back is restored; an active budget the
-- file no longer lists is soft-deleted; anything else is unchanged.
create temporary table budget_diff on commit drop as
with
customer_budgets as (
    select budget_id, department, sub_category, fiscal_period, budgeted_amount, currency,
        deleted_at
    from budget
    where customer_id = %(customer_id)s
),

compared as (
    select
        b.budget_id,
        s.department,
        s.sub_category,
        s.fiscal_period,
        s.budgeted_amount,
        s.currency,
        b.budgeted_amount as old_amount,
        b.currency as old_currency,
        b.deleted_at as old_deleted_at,
        case
            when b.budget_id is null then 'create'
            when s.fiscal_period is null then
                case when b.deleted_at is null then 'soft_delete' else 'unchanged' end
            when b.deleted_at is not null then 'restore'
            when (b.budgeted_amount, b.currency) is distinct from (s.budgeted_amount, s.currency)
                then 'update'
            else 'unchanged'
        end as action
    from budget_stage as s
    full join customer_budgets as b
        on b.department = s.department
        and coalesce(b.sub_category, '') = coalesce(s.sub_category, '')
        and b.fiscal_period = s.fiscal_period
)

select *
from compared
where action <> 'unchanged'
