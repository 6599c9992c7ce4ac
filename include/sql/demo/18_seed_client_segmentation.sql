-- Demo tier history per client. Rules:
-- - every client has a tier from a date before the first seeded fiscal year (and on or after
--   its customer_since), except clients numbered 17 modulo 200 (0.005 of clients), which have
--   no segmentation row at all;
-- - the first tier follows the segment: Giant mostly Platinum, Large mostly Gold, Medium
--   mostly Silver, Small mostly Bronze (a quarter Self-serve);
-- - 0.10 of clients move one level up or down once during the seeded years: the earlier row
--   then ends the day before the new one starts; the latest row stays open (effective_to NULL);
-- - cse_name is the client's CSE.
with params as (
    select
        %(seed)s::bigint as seed,
        make_date(
            %(first_year)s::int - case when %(start_month)s::int > 1 then 1 else 0 end,
            %(start_month)s::int,
            1
        ) as first_year_start,
        (
            make_date(
                %(last_year)s::int - case when %(start_month)s::int > 1 then 1 else 0 end,
                %(start_month)s::int,
                1
            )
            + interval '1 year'
        )::date - 1 as last_year_end
),

clients_src as (
    select
        client_id,
        cse_name,
        segment,
        customer_since
    from clients
    where substr(client_id, 2)::int %% 200 <> 17
),

draws as (
    select
        c.client_id,
        c.cse_name,
        c.segment,
        c.customer_since,
        p.first_year_start,
        p.last_year_end,
        finsync_demo_rand('tier:' || c.client_id, p.seed) as u_tier,
        finsync_demo_rand('tier_from:' || c.client_id, p.seed) as u_from,
        finsync_demo_rand('tier_change:' || c.client_id, p.seed) as u_change,
        finsync_demo_rand('tier_change_date:' || c.client_id, p.seed) as u_change_date,
        finsync_demo_rand('tier_change_way:' || c.client_id, p.seed) as u_change_way
    from clients_src as c
    cross join params as p
),

first_tiers as (
    select
        client_id,
        cse_name,
        u_change_way,
        customer_since
        + floor(u_from * (first_year_start - customer_since))::int as effective_from,
        case segment
            when 'Giant' then case when u_tier < 0.8 then 1 else 2 end
            when 'Large' then case when u_tier < 0.2 then 1 when u_tier < 0.8 then 2 else 3 end
            when 'Medium' then case when u_tier < 0.2 then 2 when u_tier < 0.8 then 3 else 4 end
            else case when u_tier < 0.15 then 3 when u_tier < 0.75 then 4 else 5 end
        end as tier_level,
        u_change < 0.10 as is_changing,
        -- the change falls between 30 days after the first seeded year starts and 30 days
        -- before the last one ends
        first_year_start + 30
        + floor(u_change_date * (last_year_end - first_year_start - 60))::int as change_date
    from draws
),

tier_rows as (
    select
        client_id,
        cse_name,
        tier_level,
        effective_from,
        case when is_changing then change_date - 1 end as effective_to
    from first_tiers
    union all
    select
        client_id,
        cse_name,
        case
            when tier_level = 1 then 2
            when tier_level = 5 then 4
            when u_change_way < 0.5 then tier_level - 1
            else tier_level + 1
        end as tier_level,
        change_date as effective_from,
        null::date as effective_to
    from first_tiers
    where is_changing
)

insert into client_segmentation (client_id, tier_id, cse_name, effective_from, effective_to)
select
    client_id,
    'T' || tier_level as tier_id,
    cse_name,
    effective_from,
    effective_to
from tier_rows;
