-- Demo account plans: one per client and seeded fiscal year for 0.85 of clients. Rules:
-- - no plan for a year that starts after the client churned;
-- - older plans are mostly approved: the last seeded year is approved 0.35, in_review 0.35,
--   draft 0.30; the year before 0.80 / 0.12 / 0.08; earlier years 0.92 / 0.05 / 0.03;
-- - cse_name is the client's CSE.
with params as (
    select
        %(seed)s::bigint as seed,
        %(last_year)s::int as last_year
),

clients_src as (
    select
        client_id,
        cse_name
    from clients
),

opening_arr as (
    select
        client_id,
        fiscal_year
    from burc_arr_tracking
    where fiscal_month = 1 and arr > 0
),

draws as (
    select
        o.client_id,
        o.fiscal_year,
        c.cse_name,
        p.last_year - o.fiscal_year as years_back,
        finsync_demo_rand('plan:' || o.client_id || ':' || o.fiscal_year, p.seed) as u_plan,
        finsync_demo_rand('plan_status:' || o.client_id || ':' || o.fiscal_year, p.seed)
            as u_status
    from opening_arr as o
    inner join clients_src as c on o.client_id = c.client_id
    cross join params as p
)

insert into account_plans (plan_id, client_id, fiscal_year, cse_name, status)
select
    'AP-' || fiscal_year || '-' || substr(client_id, 2) as plan_id,
    client_id,
    fiscal_year,
    cse_name,
    case
        when years_back = 0 and u_status < 0.35 then 'approved'
        when years_back = 0 and u_status < 0.70 then 'in_review'
        when years_back = 0 then 'draft'
        when years_back = 1 and u_status < 0.80 then 'approved'
        when years_back = 1 and u_status < 0.92 then 'in_review'
        when years_back = 1 then 'draft'
        when u_status < 0.92 then 'approved'
        when u_status < 0.97 then 'in_review'
        else 'draft'
    end as status
from draws
where u_plan < 0.85;
