-- Demo contracts: 1 to 3 per client. Rules:
-- - end dates spread evenly from the first day of the first seeded year to three years after
--   the last seeded year, so renewals fall in every quarter of every seeded year and beyond;
-- - terms of 1, 2, 3 or 5 years, longer when needed so that every contract has started by the
--   end of the last seeded year (the demo's status date);
-- - annual_value: 0.6 to 1.2 of the client's opening ARR, divided by its number of contracts;
-- - status, as at the end of the last seeded year: a churned client's contracts still running
--   at its churn date are 'cancelled', earlier ones 'expired'; any other client's contract
--   that ended before that date is 'expired' with chance 0.3 (module dropped), else 'active'
--   (renewal due or in progress); contracts ending later are 'active'.
with params as (
    select
        %(seed)s::bigint as seed,
        %(first_year)s::int as first_year,
        %(start_month)s::int as start_month,
        make_date(
            %(first_year)s::int - case when %(start_month)s::int > 1 then 1 else 0 end,
            %(start_month)s::int,
            1
        ) as first_year_start,
        make_date(
            %(last_year)s::int - case when %(start_month)s::int > 1 then 1 else 0 end,
            %(start_month)s::int,
            1
        ) as last_year_start
),

opening_arr as (
    select
        a.client_id,
        a.arr
    from burc_arr_tracking as a
    inner join params as p on a.fiscal_year = p.first_year
    where a.fiscal_month = 1
),

churn_dates as (
    select
        a.client_id,
        min(
            make_date(
                a.fiscal_year - case when p.start_month > 1 then 1 else 0 end, p.start_month, 1
            )
            + make_interval(months => a.fiscal_month - 1)
        )::date as churn_date
    from burc_arr_tracking as a
    cross join params as p
    where a.arr = 0
    group by a.client_id
),

client_contracts as (
    select
        o.client_id,
        o.arr,
        k.contract_no,
        c.churn_date,
        p.first_year_start,
        (p.last_year_start + interval '1 year')::date - 1 as status_date,
        (p.last_year_start + interval '4 years')::date - p.first_year_start as end_span_days,
        1 + floor(finsync_demo_rand('contract_count:' || o.client_id, p.seed) * 3)::int
            as contract_count,
        finsync_demo_rand('contract_end:' || o.client_id || ':' || k.contract_no, p.seed)
            as u_end,
        finsync_demo_rand('contract_term:' || o.client_id || ':' || k.contract_no, p.seed)
            as u_term,
        finsync_demo_rand('contract_value:' || o.client_id || ':' || k.contract_no, p.seed)
            as u_value,
        finsync_demo_rand('contract_lapse:' || o.client_id || ':' || k.contract_no, p.seed)
            as u_lapse
    from opening_arr as o
    cross join params as p
    cross join generate_series(1, 3) as k (contract_no)
    left join churn_dates as c on o.client_id = c.client_id
),

dated as (
    select
        client_id,
        contract_no,
        contract_count,
        arr,
        churn_date,
        status_date,
        u_value,
        u_lapse,
        first_year_start + floor(u_end * end_span_days)::int as end_date,
        (array[1, 2, 3, 3, 5])[1 + floor(u_term * 5)::int] as drawn_term_years
    from client_contracts
    where contract_no <= contract_count
),

termed as (
    select
        d.*,
        greatest(d.drawn_term_years, ceil((d.end_date - d.status_date) / 365.0)::int + 1)
            as term_years
    from dated as d
)

insert into burc_contracts (contract_id, client_id, start_date, end_date, annual_value, status)
select
    'K-' || substr(client_id, 2) || '-' || contract_no as contract_id,
    client_id,
    (end_date + 1 - make_interval(years => term_years))::date,
    end_date,
    round(arr * (0.6 + 0.6 * u_value)::numeric / contract_count, 2) as annual_value,
    case
        when churn_date is not null and end_date >= churn_date then 'cancelled'
        when churn_date is not null then 'expired'
        when end_date < status_date and u_lapse < 0.3 then 'expired'
        else 'active'
    end as status
from termed;
