-- Provenance: which code built what. Every replacement of mart rows (control.mart_rebuilds)
-- records the version of the code that derived them (the code_version dbt macro: a
-- fingerprint of the models, macros, seeds and vars) and the dbt invocation; a coverage
-- check records the code version it judged the days against, so the next check recounts
-- every day when the code has changed since.
alter table control.mart_rebuilds
    add column code_version text,
    add column invocation_id text;
create index mart_rebuilds_code_version on control.mart_rebuilds (code_version, rebuilt_at);

alter table control.coverage_checks
    add column code_version text;
