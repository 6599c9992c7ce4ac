-- Rows the financials run would read that break the finance data contract.
-- One row per (table, rule) with the number of offending rows and up to 10 of their keys.
-- Windows: fiscal-year tables are checked for the years the run reads (N-2..N for the NRR
-- bridge, up to N for lifetime revenue); undated tables entirely.
with
violations as (
    select
        'clients' as table_name,
        'status must be active or churned' as rule,
        concat('client_id=', client_id, ' status=', status) as row_ref
    from clients
    where status is null or status not in ('active', 'churned')

    -- Every later branch takes its column names from the first one.
    -- noqa: disable=AL03
    union all
    select
        'clients',
        'segment must be Giant, Large, Medium or Small',
        concat('client_id=', client_id, ' segment=', segment)
    from clients
    where segment is not null and segment not in ('Giant', 'Large', 'Medium', 'Small')

    union all
    select 'clients', 'client_id must be present and unique', concat('client_id=', client_id)
    from clients
    group by client_id
    having client_id is null or count(*) > 1

    union all
    select
        'burc_arr_tracking',
        'fiscal_month must be 1-12',
        concat(
            'client_id=', client_id, ' fiscal_year=', fiscal_year, ' fiscal_month=', fiscal_month
        )
    from burc_arr_tracking
    where
        fiscal_year between %(fiscal_year)s - 1 and %(fiscal_year)s
        and (fiscal_month is null or fiscal_month not between 1 and 12)

    union all
    select
        'burc_arr_tracking',
        'one row per (client_id, fiscal_year, fiscal_month)',
        concat(
            'client_id=', client_id, ' fiscal_year=', fiscal_year, ' fiscal_month=', fiscal_month
        )
    from burc_arr_tracking
    where fiscal_year between %(fiscal_year)s - 1 and %(fiscal_year)s
    group by client_id, fiscal_year, fiscal_month
    having count(*) > 1

    union all
    select
        'burc_arr_tracking',
        'client_id must exist in clients',
        concat('client_id=', a.client_id, ' fiscal_year=', a.fiscal_year)
    from burc_arr_tracking as a
    where
        a.fiscal_year between %(fiscal_year)s - 1 and %(fiscal_year)s
        and not exists (select 1 from clients as c where c.client_id = a.client_id)

    union all
    select
        'burc_client_revenue_detail',
        'fiscal_month must be 1-12',
        concat(
            'client_id=', client_id, ' fiscal_year=', fiscal_year, ' fiscal_month=', fiscal_month
        )
    from burc_client_revenue_detail
    where
        fiscal_year <= %(fiscal_year)s
        and (fiscal_month is null or fiscal_month not between 1 and 12)

    union all
    select
        'burc_client_revenue_detail',
        'revenue_type must be Software, PS, Maintenance or Hardware',
        concat(
            'client_id=', client_id, ' fiscal_year=', fiscal_year, ' revenue_type=', revenue_type
        )
    from burc_client_revenue_detail
    where
        fiscal_year <= %(fiscal_year)s
        and (
            revenue_type is null
            or revenue_type not in ('Software', 'PS', 'Maintenance', 'Hardware')
        )

    union all
    select
        'burc_client_revenue_detail',
        'client_id must exist in clients',
        concat('client_id=', r.client_id, ' fiscal_year=', r.fiscal_year)
    from burc_client_revenue_detail as r
    where
        r.fiscal_year <= %(fiscal_year)s
        and not exists (select 1 from clients as c where c.client_id = r.client_id)

    union all
    select
        'burc_nrr_metrics',
        'one row per (client_id, fiscal_year)',
        concat('client_id=', client_id, ' fiscal_year=', fiscal_year)
    from burc_nrr_metrics
    where fiscal_year between %(fiscal_year)s - 2 and %(fiscal_year)s
    group by client_id, fiscal_year
    having count(*) > 1

    union all
    select
        'burc_nrr_metrics',
        'bridge amounts must not be negative',
        concat('client_id=', client_id, ' fiscal_year=', fiscal_year)
    from burc_nrr_metrics
    where
        fiscal_year between %(fiscal_year)s - 2 and %(fiscal_year)s
        and least(starting_arr, expansion_arr, contraction_arr, churned_arr) < 0

    union all
    select
        'burc_nrr_metrics',
        'client_id must exist in clients',
        concat('client_id=', n.client_id, ' fiscal_year=', n.fiscal_year)
    from burc_nrr_metrics as n
    where
        n.fiscal_year between %(fiscal_year)s - 2 and %(fiscal_year)s
        and not exists (select 1 from clients as c where c.client_id = n.client_id)

    union all
    select
        'burc_attrition_risk',
        'risk_level must be low, medium, high or critical',
        concat('client_id=', client_id, ' fiscal_year=', fiscal_year, ' risk_level=', risk_level)
    from burc_attrition_risk
    where
        fiscal_year = %(fiscal_year)s
        and (risk_level is null or risk_level not in ('low', 'medium', 'high', 'critical'))

    union all
    select
        'burc_pipeline_deals',
        'probability must be between 0 and 1',
        concat('deal_id=', deal_id, ' probability=', probability)
    from burc_pipeline_deals
    where fiscal_year = %(fiscal_year)s and (probability is null or probability not between 0 and 1)

    union all
    select
        'burc_pipeline_deals',
        'deal_type, category and status must be contract values',
        concat(
            'deal_id=', deal_id, ' deal_type=', deal_type, ' category=', category,
            ' status=', status
        )
    from burc_pipeline_deals
    where
        fiscal_year = %(fiscal_year)s
        and (
            deal_type is null or deal_type not in ('expansion', 'new_logo', 'renewal')
            or category is null or category not in ('business_case', 'pipeline')
            or status is null or status not in ('open', 'won', 'lost')
        )

    union all
    select 'burc_pipeline_deals', 'deal_id must be present and unique', concat('deal_id=', deal_id)
    from burc_pipeline_deals
    group by deal_id
    having deal_id is null or count(*) > 1

    union all
    select
        'burc_pipeline_deals',
        'client_id must exist in clients',
        concat('deal_id=', d.deal_id, ' client_id=', d.client_id)
    from burc_pipeline_deals as d
    where
        d.fiscal_year = %(fiscal_year)s
        and not exists (select 1 from clients as c where c.client_id = d.client_id)

    union all
    select
        'burc_contracts',
        'status must be active, expired or cancelled; end_date not before start_date',
        concat('contract_id=', contract_id, ' status=', status)
    from burc_contracts
    where
        status is null or status not in ('active', 'expired', 'cancelled')
        or end_date < start_date

    union all
    select
        'burc_contracts',
        'contract_id must be present and unique',
        concat('contract_id=', contract_id)
    from burc_contracts
    group by contract_id
    having contract_id is null or count(*) > 1

    union all
    select
        'aging_accounts',
        'one snapshot per (client_id, as_of_date)',
        concat('client_id=', client_id, ' as_of_date=', as_of_date)
    from aging_accounts
    where as_of_date <= %(as_of_date)s
    group by client_id, as_of_date
    having count(*) > 1

    union all
    select
        'client_health_history',
        'health_score must be 0-100',
        concat(
            'client_id=', client_id, ' snapshot_date=', snapshot_date,
            ' health_score=', health_score
        )
    from client_health_history
    where snapshot_date <= %(as_of_date)s and health_score not between 0 and 100

    union all
    select
        'client_health_history',
        'one snapshot per (client_id, snapshot_date)',
        concat('client_id=', client_id, ' snapshot_date=', snapshot_date)
    from client_health_history
    where snapshot_date <= %(as_of_date)s
    group by client_id, snapshot_date
    having count(*) > 1

    union all
    select
        'burc_monthly_forecast',
        'fiscal_month must be 1-12 and category runrate, business_case or pipeline',
        concat('client_id=', client_id, ' fiscal_month=', fiscal_month, ' category=', category)
    from burc_monthly_forecast
    where
        fiscal_year = %(fiscal_year)s
        and (
            fiscal_month is null or fiscal_month not between 1 and 12
            or category is null or category not in ('runrate', 'business_case', 'pipeline')
        )

    union all
    select
        'burc_bu_pnl',
        'one row per (business_unit, fiscal_year)',
        concat('business_unit=', business_unit, ' fiscal_year=', fiscal_year)
    from burc_bu_pnl
    where fiscal_year = %(fiscal_year)s
    group by business_unit, fiscal_year
    having count(*) > 1

    union all
    select
        'planning_kpi_targets',
        'one row per (fiscal_year, business_unit, metric) with a contract metric',
        concat('business_unit=', coalesce(business_unit, '(region)'), ' metric=', metric)
    from planning_kpi_targets
    where fiscal_year = %(fiscal_year)s
    group by business_unit, metric
    having
        count(*) > 1
        or metric not in ('arr', 'nrr', 'grr', 'ebita_margin', 'rule_of_40', 'compliance')

    union all
    select
        'account_plans',
        'status must be draft, in_review or approved',
        concat('plan_id=', plan_id, ' status=', status)
    from account_plans
    where
        fiscal_year = %(fiscal_year)s
        and (status is null or status not in ('draft', 'in_review', 'approved'))

    union all
    select
        'territory_strategies',
        'one row per (territory, fiscal_year) with status draft, in_review or approved',
        concat('territory=', territory, ' status=', min(status))
    from territory_strategies
    where fiscal_year = %(fiscal_year)s
    group by territory
    having
        count(*) > 1
        or bool_or(status is null or status not in ('draft', 'in_review', 'approved'))
    -- noqa: enable=AL03
)

select
    table_name,
    rule,
    count(*) as row_count,
    (array_agg(row_ref order by row_ref))[1:10] as examples
from violations
group by table_name, rule
order by table_name, rule
