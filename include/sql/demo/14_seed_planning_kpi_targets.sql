-- Demo KPI targets per seeded fiscal year, for each business unit in territory_bu_map and for
-- the region (business_unit NULL). Rules:
-- - arr: the sum of the clients' target_arr at fiscal month 12 (the region counts every
--   client, Unassigned ones too), rounded to thousands;
-- - percentages with one decimal: nrr 105-115, grr 90-95, ebita_margin 18-24,
--   rule_of_40 38-45, compliance 85-95.
with params as (
    select
        %(seed)s::bigint as seed,
        %(first_year)s::int as first_year,
        %(last_year)s::int as last_year
),

year_end_targets as (
    select
        a.fiscal_year,
        t.business_unit,
        a.target_arr
    from burc_arr_tracking as a
    inner join clients as c on a.client_id = c.client_id
    left join cse_territory_map as m on c.cse_name = m.cse_name
    left join territory_bu_map as t on m.territory = t.territory
    where a.fiscal_month = 12
),

target_sums as (
    -- one row per (year, business unit) plus one per year for the region (is_region)
    select
        fiscal_year,
        business_unit,
        grouping(business_unit) = 1 as is_region,
        sum(target_arr) as target_arr
    from year_end_targets
    group by grouping sets ((fiscal_year, business_unit), (fiscal_year))
),

scopes as (
    select
        business_unit,
        false as is_region
    from (select distinct business_unit from territory_bu_map) as b
    union all
    select
        null as business_unit,
        true as is_region
),

scope_years as (
    select
        s.business_unit,
        s.is_region,
        y.fiscal_year,
        coalesce(ts.target_arr, 0) as target_arr,
        coalesce(s.business_unit, 'APAC') || ':' || y.fiscal_year as scope_key
    from scopes as s
    cross join params as p
    cross join lateral generate_series(p.first_year, p.last_year) as y (fiscal_year)
    left join target_sums as ts
        on
            y.fiscal_year = ts.fiscal_year
            and s.is_region = ts.is_region
            and s.business_unit is not distinct from ts.business_unit
)

insert into planning_kpi_targets (fiscal_year, business_unit, metric, target_value)
select
    sy.fiscal_year,
    sy.business_unit,
    k.metric,
    case
        when k.metric = 'arr' then round(sy.target_arr, -3)
        else round(
            (
                k.low_value
                + (k.high_value - k.low_value)
                * finsync_demo_rand('kpi:' || k.metric || ':' || sy.scope_key, p.seed)
            )::numeric,
            1
        )
    end as target_value
from scope_years as sy
cross join params as p
cross join (
    values
        ('arr', 0::float8, 0::float8),
        ('nrr', 105, 115),
        ('grr', 90, 95),
        ('ebita_margin', 18, 24),
        ('rule_of_40', 38, 45),
        ('compliance', 85, 95)
) as k (metric, low_value, high_value);
