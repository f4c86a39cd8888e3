-- The scraper service (`coffee-runner serve`) works through backfills of its own: origin
-- 'service' (a person's are 'cli'), and owner, the instance that runs it. An instance
-- holds a session advisory lock on its owner name while it lives, so a running service
-- backfill whose owner's lock is free was left by a dead instance: the next instance
-- marks it aborted (its days are planned again by the next catch-up).
alter table control.backfills
    add column origin text not null default 'cli' check (origin in ('cli', 'service')),
    add column owner text;

-- One request budget per shop and one for the web archive, shared by every process that
-- uses this database: a request reserves the next send slot (next_slot moves one
-- interval on), and a throttling answer seen by any process moves blocked_until for all.
-- A dead process leaves at most the one slot it reserved, which passes by itself.
create table control.request_budget (
    key            text primary key,
    next_slot      timestamptz not null default now(),
    blocked_until  timestamptz,
    blocked_reason text,
    updated_at     timestamptz not null default now()
);
