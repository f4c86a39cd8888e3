-- Backfills and their checkpoint ledger: one item per (roaster, day).
create table control.backfills (
    id                uuid primary key,
    strategy          text not null check (strategy in ('incremental', 'full', 'validation')),
    start_day         date not null,
    end_day           date not null,
    roasters          text[],            -- null: every active roaster
    status            text not null default 'running'
                      check (status in ('running', 'done', 'failed', 'aborted')),
    max_failure_rate  double precision not null,
    timeout_seconds   double precision not null,
    concurrency       integer not null,
    gaps_before       integer,
    gaps_after        integer,
    dbt               jsonb,
    error             text,
    created_at        timestamptz not null default now(),
    finished_at       timestamptz,
    check (start_day <= end_day)
);

create table control.backfill_items (
    backfill_id    uuid not null references control.backfills (id),
    roaster_id     text not null references raw.roasters (id),
    day            date not null,
    status_before  text not null,
    action         text not null
                   check (action in ('reparse', 'refetch_live', 'refetch_archive', 'unrecoverable')),
    state          text not null default 'pending'
                   check (state in ('pending', 'running', 'done', 'failed', 'skipped', 'unrecoverable')),
    attempts       integer not null default 0,
    claimed_by     text,
    claimed_at     timestamptz,
    finished_at    timestamptz,
    elapsed_ms     integer,
    run_id         uuid references raw.scrape_runs (id),
    error          text,
    primary key (backfill_id, roaster_id, day)
);
create index backfill_items_open on control.backfill_items (backfill_id, state)
    where state in ('pending', 'running');
