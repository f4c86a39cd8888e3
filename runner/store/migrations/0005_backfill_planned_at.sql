-- When planning started (before coverage was read): runs completed after this moment
-- were not known to the plan, so an item they filled is skipped rather than fetched again.
alter table control.backfills add column planned_at timestamptz;
