-- The contract's default territories (also seeded by migration 002), restored if missing.
-- Users' own rows are left untouched and nothing is deleted.
insert into territory_bu_map (territory, business_unit)
values
    ('Victoria', 'ANZ'),
    ('New South Wales', 'ANZ'),
    ('Queensland', 'ANZ'),
    ('South Australia / Western Australia', 'ANZ'),
    ('New Zealand', 'ANZ'),
    ('Singapore / SEA', 'SEA'),
    ('Malaysia', 'SEA'),
    ('Thailand', 'SEA'),
    ('Hong Kong', 'Greater China'),
    ('China', 'Greater China'),
    ('Taiwan', 'Greater China')
on conflict (territory) do nothing;
