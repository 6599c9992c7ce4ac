-- Demo health scores: one snapshot per client at each fiscal quarter end of the seeded years.
-- Rules (scores are whole numbers from 0 to 100, skewed healthy):
-- - each client has a typical score from 30 to 95, most of them above 70;
-- - each snapshot moves up to 8 points around it;
-- - a client that will churn scores 20 points lower, and 5 to 30 once it has churned.
with params as (
    select
        %(seed)s::bigint as seed,
        %(start_month)s::int as start_month
),

clients_src as (
    select
        client_id,
        status
    from clients
),

quarter_ends as (
    select
        a.client_id,
        a.arr,
        (
            make_date(
                a.fiscal_year - case when p.start_month > 1 then 1 else 0 end, p.start_month, 1
            )
            + make_interval(months => a.fiscal_month)
        )::date - 1 as snapshot_date,
        a.client_id || ':' || a.fiscal_year || ':' || a.fiscal_month as snapshot_key
    from burc_arr_tracking as a
    cross join params as p
    where a.fiscal_month in (3, 6, 9, 12)
),

scores as (
    select
        q.client_id,
        q.snapshot_date,
        case
            when q.arr = 0
                then 5 + 25 * finsync_demo_rand('health_churned:' || q.snapshot_key, p.seed)
            else
                30 + 65 * sqrt(finsync_demo_rand('health_base:' || q.client_id, p.seed))
                + 16 * (finsync_demo_rand('health_move:' || q.snapshot_key, p.seed) - 0.5)
                - case when c.status = 'churned' then 20 else 0 end
        end as raw_score
    from quarter_ends as q
    inner join clients_src as c on q.client_id = c.client_id
    cross join params as p
)

insert into client_health_history (client_id, snapshot_date, health_score)
select
    client_id,
    snapshot_date,
    greatest(0, least(100, round(raw_score)))::int as health_score
from scores;
