-- Demo pipeline deals: about 2 per client and seeded fiscal year while the client has ARR.
-- Rules:
-- - up to 4 deal slots per client-year, taken with chance 0.85, 0.65, 0.35 and 0.15;
-- - deal_type expansion 0.55, renewal 0.30, new_logo 0.15; category business_case 0.35,
--   else pipeline; value from the ARR at the year's first month (rounded to hundreds):
--   expansion 0.05-0.35 of it, renewal 0.90-1.15, new_logo 0.20-0.80;
-- - expected_close_date inside the fiscal year; the demo's "today" is the middle of the last
--   seeded year: deals due before it are closed with chance 0.85, later ones with 0.10;
-- - a closed deal has stage 'Closed' and is won (probability 1, chance 0.6) or lost
--   (probability 0); an open deal is in Qualify (probability 0.10-0.30), Propose
--   (0.30-0.60) or Negotiate (0.60-0.90).
-- One text hash per deal, and a second one derived from it, give eight 16-bit uniform draws
-- (bit slices).
with params as (
    select
        %(seed)s::bigint as seed,
        %(start_month)s::int as start_month,
        make_date(
            %(last_year)s::int - case when %(start_month)s::int > 1 then 1 else 0 end,
            %(start_month)s::int,
            1
        ) + interval '6 months' as demo_today
),

opening_arr as (
    select
        client_id,
        fiscal_year,
        arr
    from burc_arr_tracking
    where fiscal_month = 1 and arr > 0
),

slots as (
    select
        h.*,
        hashint8extended(h.hash_a, h.seed) as hash_b
    from (
        select
            a.client_id,
            a.fiscal_year,
            a.arr::float8 as arr,
            s.slot,
            s.take_share,
            p.seed,
            p.demo_today,
            make_date(
                a.fiscal_year - case when p.start_month > 1 then 1 else 0 end, p.start_month, 1
            ) as year_start,
            hashtextextended(
                'deal:' || a.client_id || ':' || a.fiscal_year || ':' || s.slot, p.seed
            ) as hash_a
        from opening_arr as a
        cross join params as p
        cross join (
            values (1, 0.85::float8), (2, 0.65), (3, 0.35), (4, 0.15)
        ) as s (slot, take_share)
        offset 0
    ) as h
    -- offset 0: compute the hashes once per deal slot, not once per use below
    offset 0
),

draws as (
    select
        client_id,
        fiscal_year,
        slot,
        arr,
        demo_today,
        year_start,
        take_share,
        (hash_a & 65535)::float8 / 65536 as u_take,
        ((hash_a >> 16) & 65535)::float8 / 65536 as u_type,
        ((hash_a >> 32) & 65535)::float8 / 65536 as u_category,
        ((hash_a >> 48) & 65535)::float8 / 65536 as u_value,
        (hash_b & 65535)::float8 / 65536 as u_date,
        ((hash_b >> 16) & 65535)::float8 / 65536 as u_closed,
        ((hash_b >> 32) & 65535)::float8 / 65536 as u_outcome,
        ((hash_b >> 48) & 65535)::float8 / 65536 as u_probability
    from slots
),

deals as (
    select
        client_id,
        fiscal_year,
        slot,
        arr,
        u_value,
        u_closed,
        u_outcome,
        u_probability,
        demo_today,
        case
            when u_type < 0.55 then 'expansion'
            when u_type < 0.85 then 'renewal'
            else 'new_logo'
        end as deal_type,
        case when u_category < 0.35 then 'business_case' else 'pipeline' end as category,
        year_start + floor(u_date * ((year_start + interval '1 year')::date - year_start))::int
            as expected_close_date
    from draws
    where u_take < take_share
),

outcomes as (
    select
        d.*,
        case
            when
                d.u_closed
                >= case when d.expected_close_date < d.demo_today then 0.85 else 0.10 end
                then 'open'
            when d.u_outcome < 0.6 then 'won'
            else 'lost'
        end as status
    from deals as d
)

insert into burc_pipeline_deals (
    deal_id,
    client_id,
    fiscal_year,
    deal_type,
    category,
    stage,
    probability,
    value,
    expected_close_date,
    status
)
select
    'D-' || fiscal_year || '-' || substr(client_id, 2) || '-' || slot as deal_id,
    client_id,
    fiscal_year,
    deal_type,
    category,
    case
        when status <> 'open' then 'Closed'
        when u_probability < 0.40 then 'Qualify'
        when u_probability < 0.75 then 'Propose'
        else 'Negotiate'
    end as stage,
    -- an open deal's probability rises with its stage (u_probability also picks the stage)
    case
        when status = 'won' then 1
        when status = 'lost' then 0
        when u_probability < 0.40 then round((0.10 + 0.50 * u_probability)::numeric, 2)
        when u_probability < 0.75
            then round((0.30 + 0.30 * (u_probability - 0.40) / 0.35)::numeric, 2)
        else round((0.60 + 0.30 * (u_probability - 0.75) / 0.25)::numeric, 2)
    end as probability,
    greatest(
        -- whole hundreds in float8, then numeric: cheaper than casting each float8 to numeric
        round(
            arr * case deal_type
                when 'expansion' then 0.05 + 0.30 * u_value
                when 'renewal' then 0.90 + 0.25 * u_value
                else 0.20 + 0.60 * u_value
            end
            / 100
        )::bigint * 100.00,
        100
    ) as value,
    expected_close_date,
    status
from outcomes;
