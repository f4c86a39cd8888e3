"""`coffee-runner import --warc FILE...`: the shop captures of WARC files, as archive captures.

Any WARC file will do (ours, Heritrix's, browsertrix's, pywb's): every `response` and
`revisit` record whose target URI is a catalog URL of a configured roaster becomes a
capture (source `archive`) of a run per (roaster, local day); every other record is
counted and skipped. A revisit takes the body its payload digest names (a body already
stored, or a response earlier in the same import). Capture ids come from the record ids,
so importing a file twice adds nothing.
"""

from __future__ import annotations

import datetime as dt
import gzip
import uuid
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

import psycopg
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.recordloader import ArcWarcRecord

from runner.archive import records
from runner.archive.catalog_urls import CatalogUrl, catalog_url
from runner.core.config import Config
from runner.core.errors import InputError
from runner.core.exchange import Exchange, headers_of_interest
from runner.store.bodies import body_bytes
from runner.store.db import Target, connect
from runner.store.raw import insert_capture

RUN_SQL = """
insert into raw.scrape_runs (id, roaster_id, kind, status, target_day, started_at, finished_at, pages, artifacts,
                             host, pid)
values (%s, %s, 'archive', 'ok', %s, %s, %s, 0, 0, 'import', 0)
on conflict (id) do nothing
"""
RUN_COUNTS_SQL = """
update raw.scrape_runs as r
   set artifacts = (select count(*) from raw.scrape_artifacts as a where a.run_id = r.id),
       pages = (select count(*) from raw.scrape_artifacts as a
                 where a.run_id = r.id and a.resource in ('products', 'variations') and a.http_status = 200),
       started_at = least(r.started_at, %s), finished_at = greatest(r.finished_at, %s)
 where r.id = %s
"""


@dataclass
class Importing:
    """One import: what it found, and the bodies of this import by digest (for revisits)."""

    config: Config
    counts: Counter[str] = field(default_factory=Counter)
    digests: dict[str, bytes] = field(default_factory=dict)  # WARC payload digest -> body
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)  # response record id -> request


def import_warcs(config: Config, target: Target, paths: list[Path]) -> dict[str, Any]:
    for path in paths:
        _check_whole(path)
    state = Importing(config)
    with connect(target) as conn:
        for path in paths:
            with open(path, "rb") as stream:
                _import_file(conn, state, stream, path)
    counts = state.counts
    return {"files": len(paths), **{key: counts[key] for key in (
        "captures", "already_stored", "bodies", "not_ours", "not_captures", "unresolved_revisits")}}


def _check_whole(path: Path) -> None:
    """A gzipped file must decompress to its end: warcio stops quietly at a member cut short,
    so a file cut in a copy would import its first half and say nothing. Nothing is
    imported from any file when one is damaged."""
    with open(path, "rb") as raw:
        if raw.read(2) != b"\x1f\x8b":
            return
    try:
        with gzip.open(path, "rb") as stream:
            while stream.read(1 << 20):
                continue  # decompressing to the end is the check
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"{path}: cut short or damaged ({exc}); nothing imported") from None


def _import_file(conn: psycopg.Connection, state: Importing, stream: BinaryIO, path: Path) -> None:
    """Each record in its own transaction: a file damaged half-way keeps what came before it
    (importing it again adds nothing twice). A record whose bytes do not match its digests
    (a file cut short) stops the import before it is stored."""
    read = 0
    try:
        for record in ArchiveIterator(stream, arc2warc=True, check_digests="raise"):
            _import_record(conn, state, record)
            read += 1
    except ArchiveLoadFailed as exc:
        if read == 0:
            raise InputError(f"{path}: not a WARC file ({exc})") from None
        raise InputError(f"{path}: damaged after record {read} ({exc}); the records before it are imported") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"{path}: damaged after record {read} ({exc}); the records before it are imported") from None


def _import_record(conn: psycopg.Connection, state: Importing, record: ArcWarcRecord) -> None:
    kind = record.rec_type
    if kind == "request":
        _note_request(state, record)
        return
    if kind not in ("response", "revisit") or record.http_headers is None:
        state.counts["not_captures"] += 1
        return
    found = catalog_url(state.config, record.rec_headers.get_header("WARC-Target-URI") or "")
    if found is None:
        state.counts["not_ours"] += 1
        return
    exchange = _exchange(conn, state, record)
    if exchange is None:
        state.counts["unresolved_revisits"] += 1
        return
    _store(conn, state, record, found, exchange)


def _exchange(conn: psycopg.Connection, state: Importing, record: ArcWarcRecord) -> Exchange | None:
    """The record as an exchange; None for a revisit whose body is nowhere to be found."""
    headers = record.rec_headers
    body = _payload(conn, state, record)
    if body is None:
        return None
    http = record.http_headers
    status_line = f"{http.protocol} {http.statusline}".strip()
    pairs = [(name, value) for name, value in http.headers]
    url = headers.get_header("WARC-Target-URI")
    captured = dt.datetime.fromisoformat(headers.get_header("WARC-Date").replace("Z", "+00:00"))
    return Exchange(url, url, 1, captured, status=int(http.get_statuscode() or 0) or None,
                    headers=headers_of_interest(pairs), body=body, byte_length=len(body),
                    status_line=status_line, response_headers=pairs,
                    request=state.requests.get(headers.get_header("WARC-Record-ID") or ""))


def _payload(conn: psycopg.Connection, state: Importing, record: ArcWarcRecord) -> bytes | None:
    digest = record.rec_headers.get_header("WARC-Payload-Digest")
    if record.rec_type == "response":
        body = record.content_stream().read()
        if digest:
            state.digests[digest] = body
        return body
    if digest in state.digests:
        return state.digests[digest]
    hex_digest = records.hex_of(digest)
    return body_bytes(conn, hex_digest) if hex_digest else None


def _note_request(state: Importing, record: ArcWarcRecord) -> None:
    """The request as sent, for the response it names (WARC-Concurrent-To)."""
    concurrent = record.rec_headers.get_header("WARC-Concurrent-To")
    http = record.http_headers
    if concurrent and http is not None:  # warcio reads a request line's method as its "protocol"
        state.requests[concurrent] = {"method": http.protocol or "GET",
                                      "url": record.rec_headers.get_header("WARC-Target-URI"),
                                      "headers": [[name, value] for name, value in http.headers]}


def _store(conn: psycopg.Connection, state: Importing, record: ArcWarcRecord, found: CatalogUrl,
           exchange: Exchange) -> None:
    capture_id = records.capture_id_of(record.rec_headers.get_header("WARC-Record-ID") or exchange.url)
    roaster = found.roaster
    day = exchange.captured_at.astimezone(ZoneInfo(roaster.timezone)).date()
    run_id = uuid.uuid5(records.NAMESPACE, f"import/{roaster.id}/{day}")
    with conn.transaction():
        conn.execute(RUN_SQL, (run_id, roaster.id, day, exchange.captured_at, exchange.captured_at))
        added = insert_capture(conn, capture_id, run_id, roaster.id, "archive", found.resource, found.page, exchange)
        conn.execute(RUN_COUNTS_SQL, (exchange.captured_at, exchange.captured_at, run_id))
    state.counts["captures" if added.capture else "already_stored"] += 1
    state.counts["bodies"] += int(added.body)
