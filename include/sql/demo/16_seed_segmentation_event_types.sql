-- Demo customer-engagement event types.
insert into segmentation_event_types (event_type_id, code, name)
values
    ('ET01', 'QBR', 'Quarterly business review'),
    ('ET02', 'EXEC_REVIEW', 'Executive sponsor review'),
    ('ET03', 'HEALTH_CHECK', 'Platform health check'),
    ('ET04', 'TRAINING', 'User training session'),
    ('ET05', 'ROADMAP', 'Product roadmap briefing'),
    ('ET06', 'SUCCESS_PLAN', 'Success plan review');
