"""The raw store as a web archive, with the tools users meet: `export --warc` checked by
`warcio check` and replayed by pywb on 127.0.0.1; `import --warc` of that export into an
empty database gives the same prices."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import gzip
import io
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import yaml
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from runner.archive.records import hex_of
from runner.sandbox.simulator import DEFAULT_SHOPS, Simulator, changing
from runner.store.db import Target
from tests.runner.conftest import TEMPLATE, _create, _drop
from tests.runner.helpers import TODAY, dbt, fetch_days, run_cli, sim_config, wait_for, with_database

DAYS = [TODAY - dt.timedelta(days=2), TODAY - dt.timedelta(days=1)]
BIN = Path(sys.executable).parent


def _shops():
    """The default shops, whose pages do not change from day to day; cedar-roast answers
    conditional requests (ETag, 304), the others send no validators."""
    return tuple(dataclasses.replace(s, validators=s.id == "cedar-roast") for s in changing(DEFAULT_SHOPS, 0.0, 1.0))


pytestmark = pytest.mark.xdist_group("warc_history")  # one worker builds the module's history template once


@pytest.fixture(scope="session")
def warc_sim() -> Iterator[Simulator]:
    """_shops(), for the template's build and the tests on its copies (captures name its URL)."""
    with Simulator(shops=_shops(), today=TODAY) as sim:
        yield sim


@pytest.fixture(scope="session")
def history_template(templates, warc_sim, tmp_path_factory):
    """Two days of _shops() fetched and built, once per worker."""
    def build(target, env):
        warc_sim.reset()
        _, config = sim_config(warc_sim, tmp_path_factory.mktemp("warc-history"))
        fetch_days(warc_sim, config, target, DAYS)
        assert dbt(target, "build").ok

    return templates("warc_history", build)


@pytest.fixture
def history(db_url, warc_sim, tmp_path) -> Path:
    """This test's copy of the template; the config of its shops."""
    warc_sim.reset()
    return sim_config(warc_sim, tmp_path)[0]


def _export(path: Path, out: Path) -> dict:
    result = run_cli("--config", str(path), "export", "--warc", str(out), "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_export_passes_warcio_check_and_each_distinct_body_is_written_once(history, tmp_path, db):
    path = history
    done = _export(path, tmp_path / "warc")
    captures, bodies = db.execute("""select count(*) filter (where status_line is not null),
                                            count(distinct sha256) filter (where status_line is not null)
                                       from raw.scrape_artifacts""").fetchone()
    assert done["responses"] == bodies and done["responses"] + done["revisits"] == captures
    assert done["revisits"] >= captures // 2  # the second day is all revisits
    not_modified = db.execute("select count(*) from raw.scrape_artifacts where http_status = 304").fetchone()[0]
    assert not_modified > 0
    check = subprocess.run([BIN / "warcio", "check", "-v", done["file"]], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "digest pass" in check.stdout and "digest fail" not in check.stdout
    stored = dict(db.execute("select id::text, sha256 from raw.scrape_artifacts").fetchall())
    kinds, profiles = set(), set()
    with open(done["file"], "rb") as stream:
        for record in ArchiveIterator(stream):
            kinds.add(record.rec_type)
            profiles.add(record.rec_headers.get_header("WARC-Profile"))
            if record.rec_type in ("response", "revisit"):
                capture = record.rec_headers.get_header("WARC-Record-ID").strip("<>").removeprefix("urn:uuid:")
                assert hex_of(record.rec_headers.get_header("WARC-Payload-Digest")) == stored[capture]
    assert kinds == {"warcinfo", "request", "response", "revisit"}
    assert {p.rsplit("/", 1)[-1] for p in profiles if p} == {"identical-payload-digest", "server-not-modified"}
    assert Path(done["index"]).read_text().count("\n") == done["responses"] + done["revisits"]
    again = _export(path, tmp_path / "again")
    assert Path(again["file"]).read_bytes() == Path(done["file"]).read_bytes()  # the same range, the same bytes
    blocked = run_cli("--config", str(path), "export", "--warc", str(path / "warc"))  # under a file
    assert blocked.exit_code == 2 and "cannot write there" in blocked.output and "Traceback" not in blocked.output
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(Path(done["file"]).read_bytes()[: Path(done["file"]).stat().st_size // 2])
    damaged = run_cli("--config", str(path), "import", "--warc", str(cut))
    assert damaged.exit_code == 2 and "cut short" in damaged.output and "Traceback" not in damaged.output
    assert db.execute("select count(*) from raw.scrape_artifacts where source = 'archive'").fetchone()[0] == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _pywb(tmp_path: Path, warc: str) -> Iterator[str]:
    """A pywb collection `shops` holding the file, served on 127.0.0.1; yields its URL."""
    root = tmp_path / "pywb"
    root.mkdir()
    for args in (["init", "shops"], ["add", "shops", warc]):
        subprocess.run([BIN / "wb-manager", *args], cwd=root, check=True, capture_output=True)
    port = _free_port()
    server = subprocess.Popen([BIN / "wayback", "--bind", "127.0.0.1", "-p", str(port)], cwd=root,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _answers(port), "pywb to answer")
        yield f"http://127.0.0.1:{port}/shops"
    finally:
        server.terminate()
        server.wait()


def test_pywb_replays_every_capture_byte_for_byte(history, tmp_path, db):
    path = history
    done = _export(path, tmp_path / "warc")
    with _pywb(tmp_path, done["file"]) as collection:
        captures = db.execute("""select url, to_char(captured_at at time zone 'UTC', 'YYYYMMDDHH24MISS'),
                                        http_status, raw.body_bytes(sha256)
                                   from raw.scrape_artifacts where status_line is not null""").fetchall()
        # a shop without the v1 route answers 404, one answers 304 to a conditional request:
        # each is replayed as it was sent (a 304 has no body)
        assert {c[2] for c in captures} == {200, 304, 404}
        with httpx.Client(timeout=30) as client:
            for url, stamp, status, body in captures:
                replay = client.get(f"{collection}/{stamp}id_/{url}")
                sent = b"" if status == 304 else bytes(body)
                assert (replay.status_code, replay.content) == (status, sent), url


def test_a_backfill_from_a_pywb_collection_of_our_export_gives_the_same_prices(history, tmp_path, db, pg_admin_url,
                                                                                monkeypatch):
    path = history
    original = _prices(db, to_the_second=True)
    assert original  # the template's build
    done = _export(path, tmp_path / "warc")
    doc = yaml.safe_load(path.read_text())
    for roaster in doc["roasters"]:
        roaster["since"], roaster["archive"] = DAYS[0], True
    with _pywb(tmp_path, done["file"]) as collection, _database(pg_admin_url, monkeypatch):
        doc.update(archive_url=collection, archive_api="pywb")
        recover = tmp_path / "recover.yml"
        recover.write_text(yaml.safe_dump(doc))
        result = run_cli("--config", str(recover), "backfill", "--start", str(DAYS[0]), "--end", str(DAYS[1]),
                         "--json")
        assert result.exit_code == 0, result.output[-3000:]
        summary = json.loads(result.stdout)
        assert summary["items"]["done"] == 2 * len(doc["roasters"]) and summary["gaps_after"] == 0
        with psycopg.connect(os.environ["COFFEE_DATABASE_URL"]) as copy:
            assert copy.execute("select distinct source from raw.scrape_artifacts").fetchall() == [("archive",)]
            assert _prices(copy, to_the_second=True) == original


@contextlib.contextmanager
def _database(pg_admin_url: str, monkeypatch) -> Iterator[str]:
    """A second, empty database (migrated, built on no data) for the rest of the test."""
    name = "coffee_second"
    _create(pg_admin_url, name, TEMPLATE)
    try:
        url = with_database(pg_admin_url, name)
        monkeypatch.setenv("COFFEE_DATABASE_URL", url)
        yield url
    finally:
        monkeypatch.undo()
        _drop(pg_admin_url, name)


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_import_of_an_export_into_an_empty_database_gives_the_same_prices(history, tmp_path, db, pg_admin_url,
                                                                          monkeypatch):
    path = history
    original = _prices(db)
    done = _export(path, tmp_path / "warc")
    with _database(pg_admin_url, monkeypatch) as url:
        first = run_cli("--config", str(path), "import", "--warc", done["file"], "--json")
        assert first.exit_code == 0, first.output
        counts = json.loads(first.stdout)
        assert counts["captures"] == done["responses"] + done["revisits"] and counts["not_ours"] == 0
        twice = json.loads(run_cli("--config", str(path), "import", "--warc", done["file"], "--json").stdout)
        assert twice["captures"] == 0 and twice["already_stored"] == counts["captures"]
        assert dbt(Target(url=url, embedded=False), "build").ok
        with psycopg.connect(url) as copy:
            assert _prices(copy) == original


def _prices(conn, to_the_second: bool = False) -> list[tuple]:
    """Every price row; a web archive's replay keeps a capture's time to the second."""
    scraped = "date_trunc('second', scraped_at)" if to_the_second else "scraped_at"
    return conn.execute(f"""select variant_id, {scraped}, price, compare_at_price, is_sale, in_stock, currency
                              from marts.prices order by 1, 2""").fetchall()


def test_import_takes_a_foreign_warc_and_skips_what_is_no_roasters(tmp_path, db):
    """Another crawler's file: gzip on the wire, chunked, sha1 digests, a revisit, records of
    other sites and a metadata record. The shop's page comes in byte for byte and prices."""
    page = (Path(__file__).parent / "data" / "real" / "shopify" / "bluetokai.json").read_bytes()
    with Simulator(today=TODAY) as sim:
        path, config = sim_config(sim, tmp_path)
    shop = next(r for r in config.roasters if r.id == "blue-peak")
    url = f"{shop.base_url}/products.json?limit=250&page=1"
    warc = tmp_path / "crawl.warc.gz"
    with open(warc, "wb") as out:
        writer = WARCWriter(out, gzip=True)  # warcio's defaults: WARC/1.0, sha1
        digest = _foreign(writer, url, page, "2026-11-18T09:30:00Z")
        _foreign(writer, "https://example.org/products.json", b"{}", "2026-11-18T09:31:00Z")
        writer.write_record(writer.create_warc_record("urn:x-crawl:log", "metadata", payload=io.BytesIO(b"k: v\n"),
                                                      warc_content_type="application/warc-fields"))
        _foreign(writer, url, page, "2026-11-19T09:30:00Z", revisit_of=(digest, "2026-11-18T09:30:00Z"))
    result = run_cli("--config", str(path), "import", "--warc", str(warc), "--json")
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)
    found = (counts["captures"], counts["not_ours"], counts["not_captures"], counts["unresolved_revisits"])
    assert found == (2, 1, 1, 0)
    kept = db.execute("""select distinct body_bytes, source, resource, page, http_status from raw.captures
                          where roaster_id = 'blue-peak'""").fetchall()
    assert [(bytes(b), *rest) for b, *rest in kept] == [(page, "archive", "products", 1, 200)]  # decoded, exact
    bad = run_cli("--config", str(path), "import", "--warc", str(path))  # a YAML file
    assert bad.exit_code == 2 and "not a WARC file" in bad.output and "Traceback" not in bad.output


def _foreign(writer: WARCWriter, url: str, body: bytes, date: str, revisit_of: tuple[str, str] | None = None) -> str:
    """A response (gzip content, chunked transfer) or a revisit of one (its digest and date), as
    another crawler writes them; returns the record's payload digest."""
    wire = gzip.compress(body)
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(wire), wire)
    http = StatusAndHeaders("200 OK", [("Content-Type", "application/json"), ("Content-Encoding", "gzip"),
                                       ("Transfer-Encoding", "chunked")], protocol="HTTP/1.1")
    if revisit_of:
        record = writer.create_revisit_record(url, revisit_of[0], url, revisit_of[1], http_headers=http,
                                              warc_headers_dict={"WARC-Date": date})
    else:
        record = writer.create_warc_record(url, "response", payload=io.BytesIO(chunked), http_headers=http,
                                           warc_headers_dict={"WARC-Date": date})
    writer.write_record(record)
    return record.rec_headers.get_header("WARC-Payload-Digest")
