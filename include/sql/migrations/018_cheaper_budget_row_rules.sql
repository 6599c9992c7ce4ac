-- What PostgreSQL checks for every budget row, made cheaper without changing what it accepts.
-- A first import writes each row once with all of it, so this is most of its write
-- (docs/budget_sync_speed.md has the measurements).

-- 1. One index on budget's key instead of two. budget_natural_key (008, the uniqueness rule)
-- and budget_lookup_idx (009, the budget API's case-insensitive lookups) cost every row two
-- text b-tree insertions. budget_key serves both:
-- - unique on (customer, lower(department), lower(sub-category), period, department,
--   sub-category): two rows collide exactly when their (customer, department, sub-category,
--   period) are equal, since equal values have equal lower cases; so the rule is unchanged,
--   NULL sub-categories still equal to each other;
-- - its leading four columns are the lookup's; soft-deleted budgets, which the partial index
--   left out, are filtered on the row (the API asks for active budgets only).
-- Created before the two are dropped, in this migration's one transaction: the rule is never
-- unenforced.
create unique index if not exists budget_key on budget (
    customer_id,
    lower(department),
    lower(coalesce(sub_category, '')),
    fiscal_period,
    department,
    coalesce(sub_category, '')
);

drop index if exists budget_natural_key;
drop index if exists budget_lookup_idx;

-- 2. The period and currency rules of 008 without regular expressions, which PostgreSQL runs
-- by building a small automaton for every row. Exactly the same strings pass:
-- `FY` + four digits, alone or followed by -Q1..-Q4 or -M01..-M12; three letters A-Z
-- (tests/integration/test_schema_codes.py compares them with the gate's own pattern).
-- octet_length pins the ASCII length, so substr() below sees single-byte characters only.
alter table budget
drop constraint budget_fiscal_period_check,
add constraint budget_fiscal_period_check check (
    left(fiscal_period, 2) = 'FY'
    and octet_length(fiscal_period) in (6, 9, 10)
    and translate(substr(fiscal_period, 3, 4), '0123456789', '') = ''
    and (
        octet_length(fiscal_period) = 6
        or substr(fiscal_period, 7) in (
            '-Q1', '-Q2', '-Q3', '-Q4',
            '-M01', '-M02', '-M03', '-M04', '-M05', '-M06',
            '-M07', '-M08', '-M09', '-M10', '-M11', '-M12'
        )
    )
),
drop constraint budget_currency_check,
add constraint budget_currency_check check (
    octet_length(currency) = 3 and translate(currency, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', '') = ''
);
