-- Demo events each tier requires per fiscal year. Pairs with 0 are listed on purpose (the
-- compliance sync does not write them); Self-serve (T5) has no rows at all. Health checks
-- are frequent enough (5 to 12 a year) that a near miss shows as 'compliant' (80 to < 100).
insert into tier_event_requirements (tier_id, event_type_id, required_per_year)
values
    -- Platinum: quarterly QBRs, monthly health checks, twice-yearly executive reviews
    ('T1', 'ET01', 4),
    ('T1', 'ET02', 2),
    ('T1', 'ET03', 12),
    ('T1', 'ET04', 4),
    ('T1', 'ET05', 2),
    ('T1', 'ET06', 1),
    -- Gold: half-yearly QBRs, health checks every other month
    ('T2', 'ET01', 2),
    ('T2', 'ET02', 1),
    ('T2', 'ET03', 6),
    ('T2', 'ET04', 2),
    ('T2', 'ET05', 1),
    ('T2', 'ET06', 1),
    -- Silver: one QBR, no executive review or roadmap briefing
    ('T3', 'ET01', 1),
    ('T3', 'ET02', 0),
    ('T3', 'ET03', 5),
    ('T3', 'ET04', 1),
    ('T3', 'ET05', 0),
    ('T3', 'ET06', 1),
    -- Bronze: two health checks and a training a year only
    ('T4', 'ET01', 0),
    ('T4', 'ET02', 0),
    ('T4', 'ET03', 2),
    ('T4', 'ET04', 1),
    ('T4', 'ET05', 0),
    ('T4', 'ET06', 0);
