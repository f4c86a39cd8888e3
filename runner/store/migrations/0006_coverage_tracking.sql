-- What builds without a range (the marts' new raw, the incremental coverage check) need
-- to find what changed since their last run without reading the whole history, and a
-- guard they rely on.

-- Rows written or finished since a moment.
create index scrape_runs_created on raw.scrape_runs (created_at);
create index scrape_runs_finished on raw.scrape_runs (finished_at);
create index scrape_artifacts_created on raw.scrape_artifacts (created_at);
create index quarantine_artifacts_quarantined on quarantine.scrape_artifacts (quarantined_at);

-- A (roaster, day)'s runs, and a roaster's first day, by index: runs that name their day,
-- and the few that do not (their day follows from started_at and the roaster's timezone).
create index scrape_runs_roaster_day on raw.scrape_runs (roaster_id, target_day);
create index scrape_runs_roaster_started_undated on raw.scrape_runs (roaster_id, started_at)
    where target_day is null;

-- Every replacement of mart rows, written by the range_replace strategy (and by a full
-- build of those marts): the coverage check recomputes the days named here. A null
-- roaster means every roaster, a null day no bound on that side. kind: 'range' (a build
-- given a range), 'new' (a build without one: the days of newly written raw), 'full'.
create table control.mart_rebuilds (
    model        text not null,
    kind         text not null check (kind in ('range', 'new', 'full')),
    roaster_id   text,
    start_day    date,
    end_day      date,
    -- when the build began (what it could see), and when this row was written (right
    -- before the model commits)
    started_at   timestamptz not null default now(),
    rebuilt_at   timestamptz not null default clock_timestamp()
);
create index mart_rebuilds_at on control.mart_rebuilds (rebuilt_at);
create index mart_rebuilds_model_started on control.mart_rebuilds (model, started_at) where kind in ('new', 'full');

-- One row per build of ops.coverage_daily (its transaction's start, and its range if
-- it had one): the next build looks for changes after the newest.
create table control.coverage_checks (
    checked_at  timestamptz not null,
    start_day   date,
    end_day     date
);
create index coverage_checks_at on control.coverage_checks (checked_at);

-- TRUNCATE fires no row trigger: without this, one statement could empty raw past the
-- append-only guard, and the scheduled check would not see it.
create trigger scrape_artifacts_no_truncate
    before truncate on raw.scrape_artifacts
    for each statement execute function raw.guard_append_only();

create trigger scrape_runs_no_truncate
    before truncate on raw.scrape_runs
    for each statement execute function raw.guard_append_only();
