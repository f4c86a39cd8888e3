-- Each distinct response body is stored once, byte for byte, keyed by the sha256 of its
-- bytes (as received, after any Content-Encoding was undone). A capture refers to its
-- body by `sha256`; an unchanged page's new capture costs only its metadata row.
--   body_text   the bytes, when they are UTF-8 without NUL: convert_to(body_text, 'UTF8')
--               gives them back exactly, and SQL can parse them (raw.try_jsonb)
--   body_bytes  the bytes, otherwise
-- Bodies are never updated nor deleted, not even by the quarantine move: a quarantined
-- capture still refers to its body, and restoring it needs nothing else.
create table raw.bodies (
    sha256      text primary key check (sha256 ~ '^[0-9a-f]{64}$'),
    byte_length integer not null check (byte_length >= 0),
    body_text   text,
    body_bytes  bytea,
    stored_at   timestamptz not null default now(),
    check ((body_text is null) <> (body_bytes is null))
);

create function raw.refuse_change() returns trigger language plpgsql as $$
begin
    raise exception 'raw.% is append-only: % refused', tg_table_name, tg_op;
end $$;

create trigger bodies_append_only
    before update or delete on raw.bodies
    for each row execute function raw.refuse_change();

-- The exact bytes of a stored body (null when no such body): for psql, export and checks.
create function raw.body_bytes(digest text) returns bytea language sql stable parallel safe as $$
    select coalesce(convert_to(b.body_text, 'UTF8'), b.body_bytes) from raw.bodies as b where b.sha256 = digest
$$;

-- The body as jsonb when it is JSON that jsonb accepts, else null: text jsonb refuses
-- (\u0000, a number beyond numeric, too deep) is not JSON to the parser.
create function raw.try_jsonb(body text) returns jsonb language plpgsql immutable parallel safe as $$
begin
    return body::jsonb;
exception when others then
    return null;
end $$;

-- byte_exact: the capture's body (if any) is in raw.bodies, whole and byte for byte.
-- Captures stored before this migration are false: their JSON was kept as jsonb, which
-- rewrites key order and whitespace, so the bytes behind their sha256 cannot be given back.
-- Their body columns keep what they have; nothing is rewritten.
alter table raw.scrape_artifacts add column byte_exact boolean not null default false;

alter table quarantine.scrape_artifacts add column byte_exact boolean not null default false;

-- Every capture with its body, for psql and the checks: `body` the JSON (jsonb) when it is
-- JSON, `body_text` the text when the bytes are UTF-8 text, `body_bytes` the exact bytes.
-- Older captures show what they kept (their jsonb, their text).
create view raw.captures as
select
    a.id, a.run_id, a.roaster_id, a.url, a.requested_url, a.resource, a.page, a.attempt, a.source,
    a.http_status, a.content_type, a.headers, a.sha256, a.byte_length, a.byte_exact, a.captured_at,
    a.archive_timestamp, a.elapsed_ms, a.error, a.created_at, a.status_line, a.response_headers, a.request,
    coalesce(a.body, case when a.resource <> 'robots' then raw.try_jsonb(b.body_text) end) as body,
    coalesce(a.body_text, b.body_text) as body_text,
    coalesce(a.body_bytes, b.body_bytes, convert_to(b.body_text, 'UTF8')) as body_bytes
from raw.scrape_artifacts as a
left join raw.bodies as b on b.sha256 = a.sha256;
