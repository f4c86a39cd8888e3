"""Hostile shops: whatever a shop sends, the response is stored whole or refused with a
recorded reason, the run ends with a status, nothing crashes and memory stays bounded.

Example-based faults go through the simulator; property-based ones (hypothesis) serve
mutated and random payloads through the simulator's "body" fault, fetched by the real
client into the real raw store."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from runner.acquire.fetch import fetch_live
from runner.sandbox.simulator import Fault, Simulator
from runner.sandbox.simulator.catalog import DEFAULT_SHOPS
from runner.sandbox.simulator.render import shopify_products
from tests.runner.helpers import TODAY, sim_config

SHOP = "blue-peak"  # Shopify, currency in the config: page 1 is the first catalog request
MEMORY_GROWTH_LIMIT_MB = 150


def _reset_peak() -> float:
    """Start a new high-water mark of this process's RSS (Linux: clear_refs 5); return the RSS now.

    ru_maxrss would not do: a peak reached by an earlier test in this worker hides this one's."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_mb("VmRSS")


def _peak_mb() -> float:
    """The highest RSS since _reset_peak()."""
    return _status_mb("VmHWM")


def _status_mb(field: str) -> float:
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def _fetch_one(sim: Simulator, tmp_path, target, **http: float):
    _, config = sim_config(sim, tmp_path, **http)
    roaster = [r for r in config.roasters if r.id == SHOP]
    return fetch_live(config, target, roaster)[0]


def _artifacts(db, run_id: str) -> list[tuple]:
    return db.execute("""select resource, page, http_status, error, body is not null, body_text is not null,
                                body_bytes is not null, sha256
                           from raw.captures where run_id = %s order by created_at""", (run_id,)).fetchall()


@pytest.mark.parametrize(("fault", "reason"), [
    (Fault("gzip-bomb", shop=SHOP, resource="products", arg=300_000_000), "too_large"),
    (Fault("redirect-loop", shop=SHOP, resource="products"), "redirects"),
    (Fault("redirect-scheme", shop=SHOP, resource="products"), "redirect"),
    (Fault("redirect-javascript", shop=SHOP, resource="products"), "redirect"),
    (Fault("redirect-malformed", shop=SHOP, resource="products"), "redirect"),
    (Fault("redirect-port", shop=SHOP, resource="products"), "redirect"),
    (Fault("slow-drip", shop=SHOP, resource="products", arg=0.05), "timeout"),
    (Fault("429", shop=SHOP, resource="products"), "429"),
    (Fault("huge", shop=SHOP, resource="products", arg=30_000_000), "too_large"),
    (Fault("drop", shop=SHOP, resource="products"), ""),
    (Fault("truncated", shop=SHOP, resource="products"), ""),
])
def test_hostile_responses_are_refused_with_a_recorded_reason(fault, reason, sim, tmp_path, target, db):
    sim.set_faults([fault])
    before = _reset_peak()
    run = _fetch_one(sim, tmp_path, target, request_deadline=2.0, max_attempts=3, backoff_max=0.05,
                     max_body_bytes=20_000_000)
    assert _peak_mb() - before < MEMORY_GROWTH_LIMIT_MB  # a bomb never inflates in memory
    assert run.status == "fail" and run.error
    rows = _artifacts(db, run.run_id)
    catalog = [r for r in rows if r[0] == "products"]
    assert catalog, "every attempt is stored"
    assert all(r[3] is not None or (r[2] or 0) >= 400 for r in catalog), "each refusal carries a reason"
    assert reason.lower() in " ".join(str(r[3]) + str(r[2]) for r in catalog).lower()
    stored = db.execute("select status, artifacts from raw.scrape_runs where id = %s", (run.run_id,)).fetchone()
    assert stored == ("fail", len(rows))


def _valid_page() -> dict:
    shop = next(s for s in DEFAULT_SHOPS if s.id == SHOP)
    return {"products": shopify_products(42, shop, TODAY)[:3]}


JSON_LEAVES = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
JSON_VALUES = st.recursive(JSON_LEAVES, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


@st.composite
def mutated_pages(draw) -> bytes:
    """A valid products.json page with one value somewhere replaced by random JSON."""
    page = _valid_page()
    paths = list(_paths(page))[1:]
    path = draw(st.sampled_from(paths))
    node = page
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = draw(JSON_VALUES)
    return json.dumps(page).encode()


HOSTILE_BYTES = st.one_of(
    mutated_pages(),
    st.binary(max_size=300),  # invalid UTF-8, NUL bytes, anything
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),  # wrong top-level types
    st.integers(min_value=1, max_value=3000).map(lambda n: b"[" * n + b"]" * n),  # deep nesting
    st.sampled_from([b'{"products": "\\ud800"}', b'{"products": [1e999999]}', b'{"products": [NaN]}',
                     b'{"products": [{"id": "\\u0000"}]}', b"\xef\xbb\xbf{\"products\": []}",
                     b'{"products": [], "products": {}}']),
)


@pytest.mark.parametrize(("payload", "status"), [
    (b'{"products": []}', "ok"),  # the end of the listing
    (b'{"errors": "Not Found"}', "ok"),  # Shopify's end marker past its window
    (b'{"products": [{"id": "\\u0000"}]}', "ok"),  # jsonb refuses it, but the page has an item: page 2 follows
    (b"[]", "fail"),
    (b'{"products": "x"}', "fail"),
    (b'{"products": [NaN]}', "fail"),  # not JSON
    (b"\xff\xfe", "fail"),
])
def test_page_one_decides_the_walk(payload, status, tmp_path, target):
    with Simulator(today=TODAY, faults=[Fault("body", shop=SHOP, resource="products", page=1)]) as sim:
        sim.set_body(payload)
        assert _fetch_one(sim, tmp_path, target, max_attempts=1).status == status


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=HOSTILE_BYTES)
# found by this test: jsonb refuses \u0000, the page still has an item, so page 2 follows
@example(payload=b'{"products": [{"id": "\\u0000"}]}')
def test_any_payload_is_stored_whole_or_refused_with_a_reason(payload, tmp_path, target, db):
    with Simulator(today=TODAY, faults=[Fault("body", shop=SHOP, resource="products", page=1)]) as sim:
        sim.set_body(payload)
        run = _fetch_one(sim, tmp_path, target, max_attempts=1)
    assert run.status in ("ok", "fail"), (payload[:200], run.error)
    assert run.status == "ok" or "products page 1" in run.error  # a failed walk says where it stopped
    rows = _artifacts(db, run.run_id)
    first = [r for r in rows if r[0] == "products" and r[1] == 1]
    assert len(first) == 1
    _, _, status, error, has_json, has_text, has_bytes, sha = first[0]
    assert status == 200
    # stored whole: the exact bytes' hash, and the body in one of its three forms
    assert sha == hashlib.sha256(payload).hexdigest()
    assert has_json or has_text or has_bytes or payload == b"" or error is not None
    # every body, JSON or not, is kept byte for byte (page 1 only: a page that parses with
    # items makes the walk go on to page 2)
    kept = db.execute("""select body_bytes from raw.captures
                          where run_id = %s and resource = 'products' and page = 1""",
                      (run.run_id,)).fetchone()[0]
    assert kept is not None and bytes(kept) == payload, (payload, kept)
    assert db.execute("select status from raw.scrape_runs where id = %s", (run.run_id,)).fetchone()[0] != "running"


def test_payload_jsonb_refuses_is_kept_as_text(tmp_path, target, db):
    """JSON Python accepts but PostgreSQL's jsonb does not: stored as text, never lost."""
    payload = b'{"products": [{"id": 1, "title": "\\ud800 lone surrogate"}]}'
    with Simulator(today=TODAY, faults=[Fault("body", shop=SHOP, resource="products", page=1)]) as sim:
        sim.set_body(payload)
        run = _fetch_one(sim, tmp_path, target, max_attempts=1)
    text = db.execute("""select body_text from raw.captures
                          where run_id = %s and resource = 'products' and page = 1""", (run.run_id,)).fetchone()[0]
    assert text == payload.decode()


def test_raw_rows_are_never_changed_by_a_hostile_run(tmp_path, target, db, sim):
    """A hostile shop cannot touch what other runs stored (append-only holds)."""
    good = _fetch_one(sim, tmp_path, target)
    before = db.execute("select id, sha256 from raw.scrape_artifacts order by id").fetchall()
    sim.set_faults([Fault("body", shop=SHOP, resource="products")])
    sim.set_body(b"'); delete from raw.scrape_artifacts; --")
    _fetch_one(sim, tmp_path, target, max_attempts=1)
    after = db.execute("select id, sha256 from raw.scrape_artifacts where run_id <> %s order by id",
                       (good.run_id,)).fetchall()
    assert set(before) <= set(db.execute("select id, sha256 from raw.scrape_artifacts").fetchall())
    assert len(after) >= 1
    with pytest.raises(psycopg.errors.RaiseException):
        db.execute("delete from raw.scrape_artifacts")
