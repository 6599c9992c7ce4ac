-- Mappings learned from people (docs/budget_mapping.md): when a person confirms or corrects a
-- column mapping, each header -> field pair they chose becomes evidence for every customer's
-- later files, so the second customer on the same FP&A tool is not asked again.
-- `header_key` is the header folded (lower case, accents and punctuation removed), as the
-- mapper compares headers. A customer can opt out (share_mappings = false): its people's
-- answers are then not recorded here and learned pairs are not used for its files.
create table if not exists budget_mapping_learned (
    header_key text not null,
    field text not null,
    header_example text not null,           -- the header as a person last confirmed it
    confirmations int not null default 1,   -- how often people chose this pair
    customer_ids text[] not null default '{}',  -- which customers' people chose it
    first_confirmed_at timestamptz not null default now(),
    last_confirmed_at timestamptz not null default now(),
    last_confirmed_by text not null,
    primary key (header_key, field)
);

alter table budget_data_source_config
    add column if not exists share_mappings boolean not null default true;
