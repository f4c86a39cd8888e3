"""Bodies kept byte for byte and once: real shops' payloads (and their worst mutations)
round-trip exactly through a real HTTP server into raw.bodies; a second capture of an
unchanged page adds only its metadata; `digests` finds a body whose bytes changed; a
database built before bodies were kept this way migrates without losing anything."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import psycopg
import pytest

from runner.acquire.fetch import fetch_live
from runner.sandbox.simulator import Fault, Simulator
from runner.store.db import available_migrations
from tests.runner.conftest import _create, _drop
from tests.runner.helpers import TODAY, clock_at, run_cli, sim_config, with_database

REAL = Path(__file__).parent / "data" / "real"  # payloads captured from real shops, as found
SHOP = "blue-peak"  # Shopify, currency in the config: page 1 is the first catalog request
SHOPIFY = (REAL / "shopify" / "bluetokai.json").read_bytes()
WOO = (REAL / "woo" / "babasbeans.json").read_bytes()
# the worst a shop can send: a byte that is not UTF-8 inside a title, and a NUL
NOT_UTF8 = SHOPIFY.replace(b'"title": "', b'"title": "\xff', 1)
WITH_NUL = SHOPIFY.replace(b'"title": "', b'"title": "\x00', 1)


def _fetch_page_one(tmp_path, target, payload: bytes, day: dt.date = TODAY) -> str:
    with Simulator(today=TODAY, faults=[Fault("body", shop=SHOP, resource="products", page=1)]) as sim:
        sim.set_body(payload)
        _, config = sim_config(sim, tmp_path, max_body_bytes=5_000_000)
        roaster = [r for r in config.roasters if r.id == SHOP]
        return fetch_live(config, target, roaster, clock=clock_at(day))[0].run_id


@pytest.mark.parametrize("payload", [SHOPIFY, WOO, NOT_UTF8, WITH_NUL], ids=["shopify", "woo", "not-utf8", "nul"])
def test_a_real_payload_comes_back_byte_for_byte(payload, tmp_path, target, db):
    assert NOT_UTF8 != SHOPIFY and WITH_NUL != SHOPIFY
    run_id = _fetch_page_one(tmp_path, target, payload)
    kept, sha, exact = db.execute("""select body_bytes, sha256, byte_exact from raw.captures
                                      where run_id = %s and resource = 'products' and page = 1""",
                                  (run_id,)).fetchone()
    assert bytes(kept) == payload and sha == hashlib.sha256(payload).hexdigest() and exact
    stored_as = db.execute("select body_text is not null from raw.bodies where sha256 = %s", (sha,)).fetchone()[0]
    assert stored_as == (payload in (SHOPIFY, WOO))  # text only where text gives the bytes back


def test_a_second_capture_of_an_unchanged_page_adds_only_metadata(tmp_path, target, db):
    _fetch_page_one(tmp_path, target, SHOPIFY)
    bodies = db.execute("select count(*), sum(pg_column_size(b.*)) from raw.bodies as b").fetchone()
    second = _fetch_page_one(tmp_path, target, SHOPIFY, TODAY)
    assert db.execute("select count(*), sum(pg_column_size(b.*)) from raw.bodies as b").fetchone() == bodies
    row = db.execute("""select body is null and body_text is null and body_bytes is null, byte_length, sha256
                          from raw.scrape_artifacts
                         where run_id = %s and resource = 'products' and page = 1""", (second,)).fetchone()
    assert row == (True, len(SHOPIFY), hashlib.sha256(SHOPIFY).hexdigest())  # metadata, and the body's name


def test_digests_finds_a_body_whose_bytes_changed(tmp_path, target, db):
    _fetch_page_one(tmp_path, target, SHOPIFY)
    path = tmp_path / "roasters.yml"
    day = ["--start", str(TODAY - dt.timedelta(days=1)), "--end", str(TODAY + dt.timedelta(days=1))]
    good = run_cli("--config", str(path), "digests", *day, "--json")
    report = json.loads(good.stdout)
    assert good.exit_code == 0 and report["ok"] and report["mismatched"] == 0 and report["bodies_checked"] >= 2
    sha = hashlib.sha256(SHOPIFY).hexdigest()
    with db.transaction():  # disk corruption, or a stray manual UPDATE past the append-only trigger
        db.execute("set local session_replication_role = replica")
        db.execute("update raw.bodies set body_text = replace(body_text, '\"title\"', '\"Title\"') where sha256 = %s",
                   (sha,))
    bad = run_cli("--config", str(path), "digests", *day)
    assert bad.exit_code == 1
    assert f"sha256 mismatch: {sha}" in bad.stdout and "FAILED" in bad.stdout


def test_a_database_from_before_bodies_migrates_and_keeps_every_capture(tmp_path, pg_admin_url, monkeypatch):
    name = "coffee_before_bodies"
    _create(pg_admin_url, name)
    url = with_database(pg_admin_url, name)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            _migrate_until(conn, "0010")
            legacy = _legacy_captures(conn)
        monkeypatch.setenv("COFFEE_DATABASE_URL", url)
        with Simulator(today=TODAY) as sim:
            path, _ = sim_config(sim, tmp_path)
            assert run_cli("--config", str(path), "init").exit_code == 0  # applies the rest
        with psycopg.connect(url, autocommit=True) as conn:
            kept = conn.execute("""select id::text, byte_exact, body, body_text, body_bytes, sha256 from raw.captures
                                    order by id""").fetchall()
            assert [(k[0], k[2], k[3], k[5]) for k in kept] == legacy  # nothing rewritten, nothing lost
            assert all(not k[1] for k in kept)  # marked: not byte-exact
            assert bytes(kept[2][4]) == b"caf\xe9"  # the exact bytes an old capture kept are still given
        report = json.loads(run_cli("--config", str(path), "digests", "--start", str(TODAY),
                                    "--end", str(TODAY), "--json").stdout)
        assert report["ok"] and report["not_byte_exact"] == 3 and report["byte_exact"] == 0
    finally:
        monkeypatch.undo()
        _drop(pg_admin_url, name)


def _migrate_until(conn: psycopg.Connection, last: str) -> None:
    """The migrations up to `last`, as migrate() applied them at the time."""
    conn.execute("""create schema control; create table control.schema_migrations (
                        version text primary key, name text not null, checksum text not null,
                        applied_at timestamptz not null default now())""")
    for m in available_migrations():
        if m.version <= last:
            conn.execute(m.sql)
            conn.execute("insert into control.schema_migrations values (%s, %s, %s)", (m.version, m.name, m.checksum))
    assert conn.execute("select to_regclass('raw.bodies')").fetchone()[0] is None


def _legacy_captures(conn: psycopg.Connection) -> list[tuple]:
    """Three captures as the runner stored them before: JSON as jsonb, text, bytes."""
    conn.execute("""insert into raw.roasters (id, name, platform, base_url, currency, timezone)
                    values ('old-shop', 'Old Shop', 'shopify', 'http://127.0.0.1:9/r/old', 'USD', 'UTC')""")
    conn.execute("""insert into raw.scrape_runs (id, roaster_id, kind, status, target_day)
                    values ('00000000-0000-0000-0000-0000000000aa', 'old-shop', 'live', 'ok', %s)""", (TODAY,))
    rows = [("00000000-0000-0000-0000-000000000001", '{"products": []}', None, None, b'{"products": []}'),
            ("00000000-0000-0000-0000-000000000002", None, "User-agent: *", None, b"User-agent: *"),
            ("00000000-0000-0000-0000-000000000003", None, "caf\ufffd", b"caf\xe9", b"caf\xe9")]
    for artifact, body, text, raw, received in rows:
        conn.execute("""insert into raw.scrape_artifacts (id, run_id, roaster_id, url, requested_url, resource, page,
                                                          source, http_status, body, body_text, body_bytes, sha256,
                                                          byte_length, captured_at)
                        values (%s, '00000000-0000-0000-0000-0000000000aa', 'old-shop', 'http://x/p', 'http://x/p',
                                'products', 1, 'live', 200, %s::jsonb, %s, %s, %s, %s, %s)""",
                     (artifact, body, text, raw, hashlib.sha256(received).hexdigest(), len(received),
                      dt.datetime.combine(TODAY, dt.time(12), dt.timezone.utc)))
    return conn.execute("select id::text, body, body_text, sha256 from raw.scrape_artifacts order by id").fetchall()
