-- Demo service tiers: level 1 is the most attentive. Self-serve (level 5) has no event
-- requirements at all (see 17_seed_tier_event_requirements.sql).
insert into segmentation_tiers (tier_id, tier_name, tier_level)
values
    ('T1', 'Platinum', 1),
    ('T2', 'Gold', 2),
    ('T3', 'Silver', 3),
    ('T4', 'Bronze', 4),
    ('T5', 'Self-serve', 5);
