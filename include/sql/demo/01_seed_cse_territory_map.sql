-- Demo CSEs so that every territory of territory_bu_map has at least one CSE.
-- Users' own mappings win: existing rows are left untouched and nothing is deleted.
-- 'Unallocated Queue' is deliberately not mapped: its clients roll up to Unassigned.
insert into cse_territory_map (cse_name, territory)
values
    ('Mia Thompson', 'Queensland'),
    ('Liam Walker', 'New Zealand'),
    ('Siti Rahman', 'Malaysia'),
    ('Niran Chai', 'Thailand'),
    ('Grace Wong', 'Hong Kong'),
    ('Wei Zhang', 'China'),
    ('Chen Lin', 'Taiwan')
on conflict (cse_name) do nothing;
