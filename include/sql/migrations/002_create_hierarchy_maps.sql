-- The organisation hierarchy maps, owned by finsync and editable by users.
-- Seeded with the contract's defaults; `on conflict do nothing` keeps users' edits.

create table if not exists cse_territory_map (
    cse_name text primary key,
    territory text not null
);

create table if not exists territory_bu_map (
    territory text primary key,
    business_unit text not null,
    region text not null default 'APAC'
);

insert into cse_territory_map (cse_name, territory)
values
    ('Tracey Bugeja', 'Victoria'),
    ('Jess Gawler', 'New South Wales'),
    ('John Bugeja', 'South Australia / Western Australia'),
    ('Jimmy Leimonitis', 'Singapore / SEA'),
    ('Boon Koh', 'Singapore / SEA')
on conflict (cse_name) do nothing;

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
