"""The bodies of captures, kept once each in raw.bodies: how one is stored, their digests
checked, their bytes read back.

A capture names its body by `sha256`, the digest of the bytes as received (after any
Content-Encoding was undone). `check_digests` recomputes that digest from what is
stored, in SQL, for every distinct body the captures of a range refer to.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

import psycopg

from runner.core.exchange import Exchange
from runner.store.db import one_row

# A body already stored (the same sha256) is not stored again: the capture refers to it.
INSERT_BODY = """
insert into raw.bodies (sha256, byte_length, body_text, body_bytes) values (%s, %s, %s, %s)
on conflict (sha256) do nothing
"""


@dataclass(frozen=True)
class StoredBody:
    """The exact bytes of a body as raw.bodies keeps them: as text when that is exact, else bytes."""

    sha256: str
    byte_length: int
    text: str | None
    raw: bytes | None

    @property
    def params(self) -> tuple[object, ...]:
        return (self.sha256, self.byte_length, self.text, self.raw)


def stored_body(body: bytes) -> StoredBody:
    """Text when the bytes are UTF-8 without NUL (convert_to gives them back exactly), else bytes."""
    text = _utf8(body)
    digest = hashlib.sha256(body).hexdigest()
    if text is not None and "\x00" not in text:
        return StoredBody(digest, len(body), text, None)
    return StoredBody(digest, len(body), None, body)


async def insert_bodies(conn: psycopg.AsyncConnection, exchanges: list[Exchange]) -> None:
    """The bodies of these exchanges, each distinct one once, in sha256 order: two transactions
    storing the same bodies (an empty last page is the same everywhere) then wait for each
    other in one order, never in a deadlock."""
    bodies = {b.sha256: b for b in (stored_body(e.body) for e in exchanges if e.body is not None)}
    for digest in sorted(bodies):
        await conn.execute(INSERT_BODY, bodies[digest].params)


def _utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


BODY_SQL = "select raw.body_bytes(%s)"
MAX_LISTED = 20  # mismatches named in a report; the counts cover them all

# The captures of a range, by the day of their capture in their roaster's timezone.
RANGE_CAPTURES = """
    select a.id, a.sha256, a.byte_length, a.byte_exact
      from raw.scrape_artifacts as a join raw.roasters as r on r.id = a.roaster_id
     where (a.captured_at at time zone r.timezone)::date between %(start)s and %(end)s
       and (%(ids)s::text[] is null or a.roaster_id = any(%(ids)s))
"""

CHECK_SQL = f"""
with captures as ({RANGE_CAPTURES}),
exact as (select * from captures where byte_exact and sha256 is not null),
digests as (
    select b.sha256, b.byte_length, encode(sha256(raw.body_bytes(b.sha256)), 'hex') as recomputed
      from raw.bodies as b where b.sha256 in (select sha256 from exact)
)
select (select count(*) from captures),
       (select count(*) from exact),
       (select count(*) from captures where not byte_exact),
       (select count(*) from digests),
       (select coalesce(jsonb_agg(bad order by bad.sha256), '[]') from (
            select d.sha256, d.recomputed from digests as d where d.recomputed <> d.sha256 limit {MAX_LISTED}) as bad),
       (select count(*) from digests where recomputed <> sha256),
       (select coalesce(jsonb_agg(distinct e.sha256), '[]') from exact as e
         where not exists (select from raw.bodies as b where b.sha256 = e.sha256)),
       (select count(*) from exact as e join digests as d using (sha256) where e.byte_length <> d.byte_length)
"""


def check_digests(conn: psycopg.Connection, start: dt.date, end: dt.date,
                  roaster_ids: list[str] | None) -> dict[str, Any]:
    """Every byte-exact capture of the range: its body is stored, and the sha256 of the
    stored bytes is the one recorded. Captures stored before bodies were kept byte for byte
    are counted as not_byte_exact and not checked (their bytes were not kept)."""
    row = one_row(conn.execute(CHECK_SQL, {"start": start, "end": end, "ids": roaster_ids}).fetchone())
    captures, exact, legacy, bodies, mismatched, mismatches, missing, lengths = row
    ok = mismatches == 0 and not missing and lengths == 0
    return {"start": start.isoformat(), "end": end.isoformat(), "ok": ok, "captures": int(captures),
            "byte_exact": int(exact), "not_byte_exact": int(legacy), "bodies_checked": int(bodies),
            "mismatched": int(mismatches), "mismatched_bodies": mismatched, "missing_bodies": missing,
            "length_mismatches": int(lengths)}


def body_bytes(conn: psycopg.Connection, sha256: str) -> bytes | None:
    """The exact bytes of a stored body, None when no body has this digest."""
    row = conn.execute(BODY_SQL, (sha256,)).fetchone()
    return bytes(row[0]) if row and row[0] is not None else None
