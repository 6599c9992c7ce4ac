-- Grain: how a file finer than the budget key became budgets (docs/budget_grain.md).
-- One jsonb report per sync attempt: rows in, budgets out, the columns summed away, the
-- constant columns, the scenario kept, conflicting keys. NULL for syncs before this migration
-- and for attempts that stopped before the rows were understood (unchanged, wrong file).
alter table sync_history add column if not exists grain jsonb;
