-- Where each client rolls up, in one place for both planning syncs.
-- Rule: a client whose CSE has no territory, or whose territory has no business unit,
-- rolls up to territory and business unit 'Unassigned' (region APAC); it is still counted
-- at every level and reported by the run.
create or replace view finsync_client_hierarchy as
select
    c.client_id,
    coalesce(t.territory, 'Unassigned') as territory,
    coalesce(t.business_unit, 'Unassigned') as business_unit,
    coalesce(t.region, 'APAC') as region,
    t.territory is null as is_unassigned
from clients as c
left join cse_territory_map as m on m.cse_name = c.cse_name
left join territory_bu_map as t on t.territory = m.territory;
