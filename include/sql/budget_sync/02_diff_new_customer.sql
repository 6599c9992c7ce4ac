-- The diff of a customer without a single budget (active or soft-deleted): every staged row
-- is a budget to create. A view over the staging table with 02_diff_budgets.sql's columns,
-- so nothing is joined or copied (a first import of a million rows skips writing and reading
-- them once more); 04 creates from it. Dropped with budget_stage when the transaction ends.
create temporary view budget_diff as
select
    null::bigint as budget_id,
    department,
    sub_category,
    fiscal_period,
    budgeted_amount,
    currency,
    null::numeric(18, 2) as old_amount,
    null::text as old_currency,
    null::timestamptz as old_deleted_at,
    'create'::text as action
from budget_stage
