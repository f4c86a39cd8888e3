"""The roasters of the config, as raw.roasters keeps them (never deleted: inactive)."""

from __future__ import annotations

import psycopg

from runner.core.config import Config
from runner.store.db import one_row


def sync_roasters(conn: psycopg.Connection, config: Config) -> dict[str, int]:
    """Upsert roasters from the config; roasters no longer listed become inactive."""
    with conn.transaction():
        for r in config.roasters:
            conn.execute(
                """insert into raw.roasters
                       (id, name, platform, base_url, currency, timezone, since, active, archive,
                        rate_limit_rps)
                   values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                   on conflict (id) do update set
                       name = excluded.name, platform = excluded.platform,
                       base_url = excluded.base_url, currency = excluded.currency,
                       timezone = excluded.timezone, since = excluded.since,
                       active = excluded.active, archive = excluded.archive,
                       rate_limit_rps = excluded.rate_limit_rps, updated_at = now()
                   where (raw.roasters.name, raw.roasters.platform, raw.roasters.base_url,
                          raw.roasters.currency, raw.roasters.timezone, raw.roasters.since,
                          raw.roasters.active, raw.roasters.archive, raw.roasters.rate_limit_rps)
                         is distinct from
                         (excluded.name, excluded.platform, excluded.base_url, excluded.currency,
                          excluded.timezone, excluded.since, excluded.active, excluded.archive,
                          excluded.rate_limit_rps)""",
                (r.id, r.name, r.platform, r.base_url, r.currency, r.timezone, r.since, r.active,
                 r.archive, r.rate_limit_rps),
            )
        ids = [r.id for r in config.roasters]
        cur = conn.execute(
            """update raw.roasters set active = false, updated_at = now()
                where active and not (id = any(%s))""",
            (ids,),
        )
        deactivated = cur.rowcount
    total = one_row(conn.execute("select count(*) from raw.roasters").fetchone())[0]
    return {"configured": len(ids), "deactivated": deactivated, "total": total}
