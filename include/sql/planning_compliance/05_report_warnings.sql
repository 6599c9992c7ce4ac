-- Warnings for the run summary: rows the compliance run read that are not errors but that
-- someone should look at. One row per kind with the number of rows and up to 10 examples.
-- Runs after publishing (it reads this run's staged client rows too), before clean-up.
with
segmentation_in_force as (
    select
        client_id,
        tier_id,
        effective_from,
        effective_to,
        rank() over (partition by client_id order by effective_from desc) as start_rank
    from client_segmentation
    where
        effective_from <= %(as_of_date)s
        and (effective_to is null or effective_to >= %(as_of_date)s)
),

required_event_types as (
    select distinct event_type_id
    from tier_event_requirements
    where event_type_id is not null
),

warnings as (
    -- A client without a tier on D has no requirements: counted as unsegmented at every
    -- level, never dropped.
    select 'clients_without_tier' as kind, concat('client_id=', c.client_id) as row_ref
    from clients as c
    where not exists (select 1 from segmentation_in_force as s where s.client_id = c.client_id)

    -- Every later branch takes its column names from the first one.
    -- noqa: disable=AL03
    union all
    -- An older row still open when a newer one is in force: the newer one wins (contract).
    select
        'superseded_segmentation_rows',
        concat('client_id=', client_id, ' tier_id=', tier_id, ' effective_from=', effective_from,
            ' effective_to=', effective_to)
    from segmentation_in_force
    where start_rank > 1

    union all
    -- Events of a type that no tier requires cannot count towards anything.
    select
        'events_of_unrequired_type',
        concat('event_id=', e.event_id, ' event_type_id=', e.event_type_id)
    from segmentation_events as e
    where
        e.event_date between %(year_start)s and %(year_end)s
        and not exists (
            select 1 from required_event_types as r where r.event_type_id = e.event_type_id
        )

    union all
    select
        'adjustments_of_unrequired_type',
        concat('client_id=', a.client_id, ' event_type_id=', a.event_type_id)
    from segmentation_event_compliance as a
    where
        a.fiscal_year = %(fiscal_year)s
        and not exists (
            select 1 from required_event_types as r where r.event_type_id = a.event_type_id
        )

    union all
    -- Adjustments that remove more events than were recorded leave completed below zero;
    -- the pair is credited 0 in the roll-ups.
    select
        'negative_completed_count',
        concat('client_id=', client_id, ' event_type_id=', event_type_id,
            ' completed_count=', completed_count)
    from finsync_stage.account_plan_event_requirements
    where run_id = %(run_id)s and completed_count < 0

    union all
    select
        'rolled_up_to_unassigned',
        concat(c.client_id, ' (CSE ', coalesce(c.cse_name, '(no CSE)'), ')')
    from clients as c
    left join cse_territory_map as m on m.cse_name = c.cse_name
    left join territory_bu_map as t on t.territory = m.territory
    where t.territory is null
    -- noqa: enable=AL03
)

select
    kind,
    count(*) as row_count,
    (array_agg(row_ref order by row_ref))[1:10] as examples
from warnings
group by kind
order by kind
