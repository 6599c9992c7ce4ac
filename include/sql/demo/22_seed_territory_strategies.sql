-- Demo territory strategies: one per territory in territory_bu_map and seeded fiscal year.
-- Rules: the last seeded year is approved 0.4, in_review 0.4, draft 0.2; earlier years are
-- approved 0.9, else in_review.
with params as (
    select
        %(seed)s::bigint as seed,
        %(first_year)s::int as first_year,
        %(last_year)s::int as last_year
),

territories as (
    select territory from territory_bu_map
),

draws as (
    select
        t.territory,
        y.fiscal_year,
        y.fiscal_year = p.last_year as is_last_year,
        finsync_demo_rand('strategy:' || t.territory || ':' || y.fiscal_year, p.seed) as u_status
    from territories as t
    cross join params as p
    cross join lateral generate_series(p.first_year, p.last_year) as y (fiscal_year)
)

insert into territory_strategies (territory, fiscal_year, status)
select
    territory,
    fiscal_year,
    case
        when is_last_year and u_status < 0.4 then 'approved'
        when is_last_year and u_status < 0.8 then 'in_review'
        when is_last_year then 'draft'
        when u_status < 0.9 then 'approved'
        else 'in_review'
    end as status
from draws;
