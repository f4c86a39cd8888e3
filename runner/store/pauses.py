"""Pauses: normal processing stopped without stopping the service, stored in the database.

`control.pauses` holds one row per paused scope: a roaster id, or ALL ('*') for every
roaster. Scheduled work (`fetch`, and the service) skips what is paused; explicit
operator work (`backfill`) does not, so that a paused shop can still be repaired.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import psycopg

ALL = "*"


@dataclass(frozen=True)
class Pause:
    scope: str
    reason: str
    paused_at: dt.datetime
    paused_by: str

    def as_dict(self) -> dict[str, Any]:
        return {"scope": self.scope, "reason": self.reason,
                "paused_at": self.paused_at.isoformat(), "paused_by": self.paused_by}


def pause(conn: psycopg.Connection, scopes: list[str], reason: str) -> list[Pause]:
    """Pause each scope (ALL when the list is empty); pausing again replaces the reason."""
    with conn.transaction():
        for scope in scopes or [ALL]:
            conn.execute("""insert into control.pauses (scope, reason) values (%s, %s)
                            on conflict (scope) do update
                            set reason = excluded.reason, paused_at = now(), paused_by = current_user""",
                         (scope, reason))
    return active(conn)


def unpause(conn: psycopg.Connection, scopes: list[str]) -> list[str]:
    """Lift the pauses of these scopes (every pause when the list is empty): the scopes lifted."""
    if scopes:
        rows = conn.execute("delete from control.pauses where scope = any(%s) returning scope", (scopes,))
    else:
        rows = conn.execute("delete from control.pauses returning scope")
    return sorted(r[0] for r in rows.fetchall())


def active(conn: psycopg.Connection) -> list[Pause]:
    rows = conn.execute("select scope, reason, paused_at, paused_by from control.pauses order by scope")
    return [Pause(*row) for row in rows.fetchall()]


def reason_paused(pauses: list[Pause], roaster_id: str) -> str | None:
    """Why this roaster is paused (its own pause first, then the global one), or None."""
    by_scope = {p.scope: p for p in pauses}
    found = by_scope.get(roaster_id) or by_scope.get(ALL)
    return found.reason if found else None
