-- Quarantine: raw rows moved aside by `coffee-runner cleanup --apply`, restorable with
-- `cleanup --undo BATCH`. Rows keep every raw column plus the batch and the reason.
create table quarantine.batches (
    id           uuid primary key,
    created_at   timestamptz not null default now(),
    counts       jsonb not null,
    backup_file  text,
    undone_at    timestamptz
);

create table quarantine.scrape_runs (
    like raw.scrape_runs,
    batch_id        uuid not null references quarantine.batches (id),
    reason          text not null,
    quarantined_at  timestamptz not null default now(),
    primary key (id)
);

create table quarantine.scrape_artifacts (
    like raw.scrape_artifacts,
    batch_id        uuid not null references quarantine.batches (id),
    reason          text not null,
    quarantined_at  timestamptz not null default now(),
    primary key (id)
);
create index quarantine_artifacts_run on quarantine.scrape_artifacts (run_id);

-- Backfill items pointed at runs that moved: kept so undo can point them back.
create table quarantine.backfill_item_refs (
    batch_id     uuid not null references quarantine.batches (id),
    backfill_id  uuid not null,
    roaster_id   text not null,
    day          date not null,
    run_id       uuid not null,
    primary key (batch_id, backfill_id, roaster_id, day)
);
