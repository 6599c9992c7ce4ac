-- The API source types (docs/budget_sync.md, "Sources and `source_config` keys"): a Google
-- Sheets range, an Anaplan export action and a file behind an HTTPS address, beside the file
-- sources of 008. Their credentials stay in Airflow connections, like every source's.

alter table budget_data_source_config
drop constraint if exists budget_data_source_config_source_type_check;

alter table budget_data_source_config
add constraint budget_data_source_config_source_type_check check (
    source_type in ('local', 'sftp', 's3', 'upload', 'google_sheets', 'anaplan', 'http')
);
