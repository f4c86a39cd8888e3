"""`coffee-runner export --warc DIR`: captures as WARC 1.1, gzip per record, and a CDXJ index.

Each capture becomes a `request` record (the request as sent) and, the first time its body
appears in the file, a `response` record whose payload is the stored body; a later capture
of the same body becomes a `revisit` record (profile identical-payload-digest) that names
the first one. A capture answered `304 Not Modified` is a `revisit` with the
server-not-modified profile. Digests are sha256. Captures without a response, and captures
stored before bodies were kept byte for byte, are counted and left out.

The file is written under a temporary name and renamed when whole: a killed export
leaves no half file. Record ids and dates come from the captures, so exporting the same
range twice writes the same bytes.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from cdxj_indexer.main import CDXJIndexer
from warcio.utils import Digester
from warcio.warcwriter import WARCWriter

from runner import __version__
from runner.archive import records
from runner.core.errors import InputError
from runner.store.bodies import body_bytes
from runner.store.db import Target, connect, one_row

CAPTURES_SQL = """
select a.id, a.url, a.http_status, a.status_line, a.response_headers, a.request, a.sha256, a.captured_at,
       a.byte_exact, a.content_type, a.byte_length
  from raw.scrape_artifacts as a join raw.roasters as r on r.id = a.roaster_id
 where (%(start)s::date is null or (a.captured_at at time zone r.timezone)::date >= %(start)s)
   and (%(end)s::date is null or (a.captured_at at time zone r.timezone)::date <= %(end)s)
   and (%(ids)s::text[] is null or a.roaster_id = any(%(ids)s))
 order by a.captured_at, a.id
"""
FIRST_SQL = f"select min(captured_at) from ({CAPTURES_SQL}) as c"


class Sha256WARCWriter(WARCWriter):
    """warcio's writer, with sha256 block and payload digests (warcio's default is sha1)."""

    @staticmethod
    def _create_digester() -> Digester:
        return Digester("sha256")


@dataclass(frozen=True)
class Capture:
    id: Any
    url: str
    status: int | None
    status_line: str | None
    headers: list[list[str]] | None
    request: dict[str, Any] | None
    sha256: str | None
    captured_at: dt.datetime
    byte_exact: bool
    content_type: str | None
    byte_length: int | None


@dataclass(frozen=True)
class Export:
    start: dt.date | None
    end: dt.date | None
    roaster_ids: list[str] | None

    @property
    def file_name(self) -> str:
        return f"coffee-runner-{self.start or 'first'}-{self.end or 'last'}.warc.gz"

    @property
    def params(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "ids": self.roaster_ids}


def export_warc(target: Target, directory: Path, export: Export) -> dict[str, Any]:
    """Write DIR/<file>.warc.gz and DIR/<file>.cdxj; return what was written and left out."""
    path = directory / export.file_name
    partial = path.with_name(path.name + ".partial")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        out = open(partial, "wb")  # noqa: SIM115 - closed below, after the database's connection
    except OSError as exc:
        raise InputError(f"export --warc {directory}: cannot write there ({exc.strerror})") from None
    with out, connect(target) as conn:
        counts = _write(conn, Sha256WARCWriter(out, gzip=True, warc_version="1.1"), export)
    os.replace(partial, path)
    index = _index(path)
    return {"file": str(path), "index": str(index), "bytes": path.stat().st_size, **counts}


def _write(conn: psycopg.Connection, writer: Sha256WARCWriter, export: Export) -> dict[str, int]:
    first = one_row(conn.execute(FIRST_SQL, export.params).fetchone())[0]
    _warcinfo(writer, export, first)
    firsts: dict[str, tuple[str, str]] = {}  # sha256 -> (target URI, WARC date) of its response record
    counts: Counter[str] = Counter()
    with conn.transaction(), conn.cursor(name="captures") as cursor:
        for row in cursor.execute(CAPTURES_SQL, export.params):
            capture = Capture(*row)
            counts[_write_capture(conn, writer, capture, firsts)] += 1
    return {key: counts[key] for key in ("responses", "revisits", "no_response", "not_byte_exact")}


def _write_capture(conn: psycopg.Connection, writer: Sha256WARCWriter, capture: Capture,
                   firsts: dict[str, tuple[str, str]]) -> str:
    """The capture's records; what it became (responses, revisits) or why it was left out."""
    if capture.status is None or capture.status_line is None or capture.sha256 is None:
        return "no_response"
    if not capture.byte_exact:
        return "not_byte_exact"
    date = records.warc_date(capture.captured_at)
    if capture.request:
        _request(writer, capture, date)
    if capture.status == 304 or capture.sha256 in firsts:
        _revisit(writer, capture, date, firsts.get(capture.sha256))
        return "revisits"
    body = body_bytes(conn, capture.sha256) or b""
    http = records.response_headers(capture.status_line, capture.headers or [], len(body))
    record = writer.create_warc_record(
        capture.url, "response", payload=io.BytesIO(body), length=len(body), http_headers=http,
        warc_headers_dict={"WARC-Record-ID": records.record_id(capture.id), "WARC-Date": date,
                           "WARC-Payload-Digest": records.sha256_digest(capture.sha256)})
    writer.write_record(record)
    firsts[capture.sha256] = (capture.url, date)
    return "responses"


def _revisit(writer: Sha256WARCWriter, capture: Capture, date: str, first: tuple[str, str] | None) -> None:
    assert capture.status_line is not None and capture.sha256 is not None
    refers_uri, refers_date = first if first else (capture.url, date)
    # the headers pywb and other players replay with the original's payload: its length
    length = 0 if capture.status == 304 else capture.byte_length or 0
    http = records.response_headers(capture.status_line, capture.headers or [], length)
    record = writer.create_revisit_record(
        capture.url, records.sha256_digest(capture.sha256), refers_uri, refers_date, http_headers=http,
        warc_headers_dict={"WARC-Record-ID": records.record_id(capture.id), "WARC-Date": date})
    if capture.status == 304:
        record.rec_headers.replace_header("WARC-Profile", records.SERVER_NOT_MODIFIED)
    if first is None:  # a 304 whose body is not in this file: the revisit names no record of it
        record.rec_headers.remove_header("WARC-Refers-To-Target-URI")
        record.rec_headers.remove_header("WARC-Refers-To-Date")
    writer.write_record(record)


def _request(writer: Sha256WARCWriter, capture: Capture, date: str) -> None:
    assert capture.request is not None
    record = writer.create_warc_record(
        capture.url, "request", payload=io.BytesIO(b""), length=0,
        http_headers=records.request_headers(capture.request),
        warc_headers_dict={"WARC-Record-ID": records.request_id(capture.id), "WARC-Date": date,
                           "WARC-Concurrent-To": records.record_id(capture.id)})
    writer.write_record(record)


def _warcinfo(writer: Sha256WARCWriter, export: Export, first: dt.datetime | None) -> None:
    info = {"software": f"coffee-runner/{__version__}", "format": "WARC File Format 1.1",
            "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
            "description": f"shop captures {export.start or 'first'}..{export.end or 'last'}"
                           + (f" of {', '.join(export.roaster_ids)}" if export.roaster_ids else "")}
    record = writer.create_warcinfo_record(export.file_name, info)
    moment = first or dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)  # an empty range: a fixed date
    record.rec_headers.replace_header("WARC-Date", records.warc_date(moment))
    record.rec_headers.replace_header("WARC-Record-ID", records.record_id(
        uuid.uuid5(records.NAMESPACE, f"warcinfo/{export.file_name}")))
    writer.write_record(record)


def _index(path: Path) -> Path:
    """A sorted CDXJ index of the file, beside it (pywb and other tools read it)."""
    index = path.with_name(path.name.removesuffix(".warc.gz") + ".cdxj")
    partial = index.with_name(index.name + ".partial")
    CDXJIndexer(output=str(partial), inputs=[str(path)], sort=True).process_all()
    os.replace(partial, index)
    return index
