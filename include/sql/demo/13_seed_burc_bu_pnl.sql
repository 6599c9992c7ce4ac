-- Demo P&L per business unit (every one in territory_bu_map) and seeded fiscal year.
-- Rules:
-- - revenue is the business unit's client revenue (clients mapped through their CSE and
--   territory) plus 0 to 3 per cent other income; a unit without clients has 0 revenue;
-- - ebita is 10 to 30 per cent of revenue.
with params as (
    select
        %(seed)s::bigint as seed,
        %(first_year)s::int as first_year,
        %(last_year)s::int as last_year
),

revenue_src as (
    select
        client_id,
        fiscal_year,
        sum(amount) as revenue
    from burc_client_revenue_detail
    group by client_id, fiscal_year
),

client_units as (
    select
        c.client_id,
        t.business_unit
    from clients as c
    inner join cse_territory_map as m on c.cse_name = m.cse_name
    inner join territory_bu_map as t on m.territory = t.territory
),

business_units as (
    select distinct business_unit from territory_bu_map
),

unit_revenue as (
    select
        cu.business_unit,
        r.fiscal_year,
        sum(r.revenue) as client_revenue
    from revenue_src as r
    inner join client_units as cu on r.client_id = cu.client_id
    group by cu.business_unit, r.fiscal_year
),

unit_years as (
    select
        b.business_unit,
        y.fiscal_year,
        coalesce(r.client_revenue, 0) as client_revenue,
        finsync_demo_rand('pnl_other:' || b.business_unit || ':' || y.fiscal_year, p.seed)
            as u_other,
        finsync_demo_rand('pnl_ebita:' || b.business_unit || ':' || y.fiscal_year, p.seed)
            as u_ebita
    from business_units as b
    cross join params as p
    cross join lateral generate_series(p.first_year, p.last_year) as y (fiscal_year)
    left join unit_revenue as r
        on b.business_unit = r.business_unit and y.fiscal_year = r.fiscal_year
),

pnl as (
    select
        business_unit,
        fiscal_year,
        u_ebita,
        round(client_revenue * (1 + 0.03 * u_other)::numeric, 2) as revenue
    from unit_years
)

insert into burc_bu_pnl (business_unit, fiscal_year, revenue, ebita)
select
    business_unit,
    fiscal_year,
    revenue,
    round(revenue * (0.10 + 0.20 * u_ebita)::numeric, 2) as ebita
from pnl;
