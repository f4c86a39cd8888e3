-- Raw store (append-only), control tables and quarantine.
-- Raw rows are never updated or deleted by the runner except:
--   * scrape_runs.status/finished_at/counters move forward once (running -> ok|partial|fail);
--   * cleanup moves rows to quarantine inside a transaction that sets coffee.quarantine_move.
create schema if not exists raw;
create schema if not exists control;
create schema if not exists quarantine;

create table raw.roasters (
    id              text primary key check (id ~ '^[a-z0-9][a-z0-9-]*$'),
    name            text not null,
    platform        text not null check (platform in ('shopify', 'woocommerce')),
    base_url        text not null,
    currency        text check (currency ~ '^[A-Z]{3}$'),
    timezone        text not null default 'UTC',
    since           date,
    active          boolean not null default true,
    archive         boolean not null default false,
    rate_limit_rps  double precision not null default 1.0,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now()
);

create table raw.scrape_runs (
    id           uuid primary key,
    roaster_id   text not null references raw.roasters (id),
    kind         text not null check (kind in ('live', 'archive')),
    status       text not null default 'running'
                 check (status in ('running', 'ok', 'partial', 'fail')),
    target_day   date,           -- the roaster-local day the run covers
    started_at   timestamptz not null default now(),
    finished_at  timestamptz,
    pages        integer not null default 0,
    artifacts    integer not null default 0,
    error        text,
    host         text,
    pid          integer,
    created_at   timestamptz not null default now()
);
create index scrape_runs_roaster_created on raw.scrape_runs (roaster_id, created_at);
create index scrape_runs_running on raw.scrape_runs (status) where status = 'running';

create table raw.scrape_artifacts (
    id               uuid primary key,
    run_id           uuid not null references raw.scrape_runs (id),
    roaster_id       text not null references raw.roasters (id),
    url              text not null,          -- the final URL after redirects
    requested_url    text not null,
    resource         text not null check (resource in ('robots', 'meta', 'products', 'variations')),
    page             integer,
    attempt          integer not null default 1,
    source           text not null check (source in ('live', 'archive')),
    http_status      integer,
    content_type     text,
    headers          jsonb not null default '{}'::jsonb,
    body             jsonb,                  -- the body when it parsed as JSON
    body_text        text,                   -- the body as text when it did not
    body_bytes       bytea,                  -- the exact bytes when text would lose some
    sha256           text,
    byte_length      integer,
    captured_at      timestamptz not null,
    archive_timestamp text,                  -- wayback capture id (YYYYmmddHHMMSS)
    elapsed_ms       integer,
    error            text,
    created_at       timestamptz not null default now(),
    check (body is null or body_text is null)
);
create index scrape_artifacts_run on raw.scrape_artifacts (run_id);
create index scrape_artifacts_roaster_captured on raw.scrape_artifacts (roaster_id, captured_at);

-- Append-only guard: artifacts never change; they only leave through the quarantine move.
create function raw.guard_append_only() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' and current_setting('coffee.quarantine_move', true) = 'on' then
        return old;
    end if;
    raise exception 'raw.% is append-only: % refused (use coffee-runner cleanup)',
        tg_table_name, tg_op;
end $$;

create trigger scrape_artifacts_append_only
    before update or delete on raw.scrape_artifacts
    for each row execute function raw.guard_append_only();

create trigger scrape_runs_no_delete
    before delete on raw.scrape_runs
    for each row execute function raw.guard_append_only();

create trigger roasters_no_delete
    before delete on raw.roasters
    for each row execute function raw.guard_append_only();
