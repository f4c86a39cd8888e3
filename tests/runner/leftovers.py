"""What a test or a session may have left running: found from /proc, so nothing is assumed."""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")


def _cmdline(pid: str) -> list[str]:
    try:
        return (PROC / pid / "cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:  # gone while we looked
        return []


def _pids() -> list[str]:
    return [entry.name for entry in PROC.iterdir() if entry.name.isdigit()]


def embedded_servers_under(folder: Path) -> list[Path]:
    """Data directories under `folder` whose PostgreSQL postmaster is alive."""
    root = folder.resolve()
    found = []
    for pid in _pids():
        args = _cmdline(pid)
        if not args or not args[0].endswith("/postgres") or "-D" not in args:
            continue
        pgdata = Path(args[args.index("-D") + 1]).resolve()
        if pgdata == root or root in pgdata.parents:
            found.append(pgdata)
    return sorted(set(found))


def child_processes(parent: int | None = None) -> list[str]:
    """Live descendants of this process (zombies not counted), as 'pid: command'."""
    parents = {str(parent or os.getpid())}
    by_parent: dict[str, list[str]] = {}
    for pid in _pids():
        try:
            fields = (PROC / pid / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            by_parent.setdefault(fields[1], []).append(pid)
    found: list[str] = []
    while parents:
        children = [c for p in parents for c in by_parent.get(p, [])]
        found += children
        parents = set(children)
    return [f"{pid}: {' '.join(_cmdline(pid)).strip()[:120]}" for pid in found]
