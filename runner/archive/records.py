"""What a capture is in WARC terms: its HTTP header blocks, its record ids and digests.

One home for the mapping both ways: `warc_out` writes captures with it, `warc_in` reads
them back. The payload of a response record is the capture's body as stored: the bytes
as received after any Content-Encoding was undone. The headers that described the
transfer (Content-Encoding, Transfer-Encoding) are left out of the record and
Content-Length states the payload's length, so any WARC reader replays the bytes as they
are; the database keeps the headers as received.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders

# Record ids derive from the capture's id: exporting twice writes the same records, and an
# import of our own export gives the captures their ids back.
NAMESPACE = uuid.UUID("8b3f2d4e-6a0c-5f1b-9e7d-2c4a6b8d0e1f")
UUID_RE = re.compile(r"[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}", re.IGNORECASE)
TRANSFER_HEADERS = {"content-encoding", "transfer-encoding", "content-length"}
SERVER_NOT_MODIFIED = "http://netpreserve.org/warc/1.1/revisit/server-not-modified"
IDENTICAL_PAYLOAD = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"


def record_id(value: uuid.UUID) -> str:
    return f"<urn:uuid:{value}>"


def request_id(capture_id: uuid.UUID) -> str:
    return record_id(uuid.uuid5(NAMESPACE, f"{capture_id}/request"))


def capture_id_of(warc_record_id: str) -> uuid.UUID:
    """The capture id a response/revisit record stands for: its own uuid when it is one of
    ours (urn:uuid:...), else one derived from the record id, so an import is idempotent."""
    text = warc_record_id.strip("<>")
    ours = text.removeprefix("urn:uuid:")
    if ours != text and UUID_RE.fullmatch(ours):
        return uuid.UUID(ours)
    return uuid.uuid5(NAMESPACE, text)


def sha256_digest(hex_digest: str) -> str:
    """A WARC digest ("sha256:" and base32) of a hex sha256."""
    return "sha256:" + base64.b32encode(bytes.fromhex(hex_digest)).decode("ascii")


def hex_of(warc_digest: str | None) -> str | None:
    """The hex sha256 of a WARC sha256 digest (base32 or hex); None for other algorithms."""
    if not warc_digest or not warc_digest.lower().startswith("sha256:"):
        return None
    value = warc_digest.split(":", 1)[1]
    if len(value) == 64:
        return value.lower()
    try:
        return base64.b32decode(value.upper()).hex()
    except ValueError:
        return None


def warc_date(moment: dt.datetime) -> str:
    """WARC 1.1's date with microseconds, in UTC."""
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def response_headers(status_line: str, headers: list[list[str]], length: int) -> StatusAndHeaders:
    """The response's status line and headers as received, less those of the transfer."""
    protocol, _, status = status_line.partition(" ")
    kept = [(name, value) for name, value in headers if name.lower() not in TRANSFER_HEADERS]
    kept.append(("Content-Length", str(length)))
    return StatusAndHeaders(status, kept, protocol=protocol)


def request_headers(request: dict[str, Any]) -> StatusAndHeaders:
    """The request as sent: its method and path, and every header."""
    parts = urlsplit(request["url"])
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = [(name, value) for name, value in request["headers"]]
    return StatusAndHeaders(f"{request['method']} {target} HTTP/1.1", headers, is_http_request=True)
