-- A new customer's rows that the gate took out after they were COPYed straight into `budget`
-- (importer._copy_new; run by importer._finish_new), found by key: the COPY passed
-- budget_key, so each key is one row.
delete from budget as b
using unnest(
    %(departments)s::text[], %(sub_categories)s::text[], %(fiscal_periods)s::text[]
) as d (department, sub_category, fiscal_period)
where
    b.customer_id = %(customer_id)s
    and b.department = d.department
    and coalesce(b.sub_category, '') = coalesce(d.sub_category, '')
    and b.fiscal_period = d.fiscal_period
