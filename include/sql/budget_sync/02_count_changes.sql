-- What the import would do, before it does anything: the mass-deletion guard and the counts.
with
staged as (
    select department, coalesce(sub_category, '') as sub_key, fiscal_period, budgeted_amount,
        currency
    from budget_stage
),

current_budgets as (
    select budget_id, department, coalesce(sub_category, '') as sub_key, fiscal_period,
        budgeted_amount, currency, deleted_at
    from budget
    where customer_id = %(customer_id)s
),

matched as (
    select s.budgeted_amount as new_amount, s.currency as new_currency, b.budget_id,
        b.budgeted_amount as old_amount, b.currency as old_currency, b.deleted_at
    from staged as s
    left join current_budgets as b
        on b.department = s.department and b.sub_key = s.sub_key
        and b.fiscal_period = s.fiscal_period
)

select
    (select count(*) from staged) as staged_count,
    count(*) filter (where budget_id is null) as create_count,
    count(*) filter (
        where budget_id is not null and deleted_at is null
        and (old_amount, old_currency) is distinct from (new_amount, new_currency)
    ) as update_count,
    count(*) filter (
        where budget_id is not null and deleted_at is null
        and (old_amount, old_currency) is not distinct from (new_amount, new_currency)
    ) as unchanged_count,
    count(*) filter (where deleted_at is not null) as restore_count,
    (select count(*) from current_budgets where deleted_at is null) as active_count,
    (
        select count(*)
        from current_budgets as b
        where
            b.deleted_at is null
            and not exists (
                select 1 from staged as s
                where s.department = b.department and s.sub_key = b.sub_key
                    and s.fiscal_period = b.fiscal_period
            )
    ) as soft_delete_count
from matched
