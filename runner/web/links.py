"""Where a page links to: the server's routes, or the static export's files.

A static page at depth N (index.html: 0, day/<r>/<d>.html: 2) reaches the others
through N `../`, so the export works from any folder, a file:// URL or a CI artifact.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Links:
    static: bool = False
    depth: int = 0

    @property
    def _up(self) -> str:
        return "../" * self.depth

    def at(self, depth: int) -> Links:
        return Links(self.static, depth)

    def home(self) -> str:
        return f"{self._up}index.html" if self.static else "/"

    def day(self, roaster_id: str, day: dt.date | str) -> str:
        return self.day_pattern().replace("{r}", roaster_id).replace("{d}", str(day))

    def day_pattern(self) -> str:
        """The day link with {r} and {d} left for the page's script to fill."""
        return f"{self._up}day/{{r}}/{{d}}.html" if self.static else "/day/{r}/{d}"

    def roaster(self, roaster_id: str) -> str:
        return f"{self._up}roasters/{roaster_id}.html" if self.static else f"/roasters/{roaster_id}"

    def backfills(self) -> str:
        return f"{self._up}backfills/index.html" if self.static else "/backfills"

    def backfill(self, backfill_id: object) -> str:
        return f"{self._up}backfills/{backfill_id}.html" if self.static else f"/backfills/{backfill_id}"

    def asset(self, name: str) -> str:
        return f"{self._up}static/{name}" if self.static else f"/static/{name}"
