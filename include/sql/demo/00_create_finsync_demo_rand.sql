-- Deterministic pseudo-random numbers for the demo seed: a uniform value in [0, 1) derived
-- from a key and the seed, so the same key and seed always give the same value (no random(),
-- no dependence on row order or on parallel plans). A plain SQL function: the planner inlines it.
create or replace function finsync_demo_rand(key text, seed bigint) returns float8
language sql immutable parallel safe
as $$
    select (hashtextextended(key, seed) & 2147483647)::float8 / 2147483648.0
$$;
