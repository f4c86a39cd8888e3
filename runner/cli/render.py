"""Human-readable renderings of the reports the commands also print as --json."""

from __future__ import annotations

from typing import Any

from runner.acquire.fetch import RunSummary
from runner.backfill import Summary
from runner.backfill.plan import Plan

MAX_LISTED = 40  # longer lists are summarized; --json always has everything


def _listed(lines: list[str]) -> list[str]:
    if len(lines) <= MAX_LISTED:
        return lines
    return [*lines[:MAX_LISTED], f"... and {len(lines) - MAX_LISTED} more (see --json)"]


def assess_text(r: dict[str, Any]) -> str:
    out = [f"assessment {r['start']}..{r['end']}", "", "counts:"]
    out += [f"  {k:<18} {v}" for k, v in r["counts"].items()]
    out += ["runs by status:        " + ", ".join(f"{k} {v}" for k, v in r["runs_by_status"].items()),
            "artifacts (marts):     " + ", ".join(f"{k} {v}" for k, v in r["artifacts_by_validation"].items()),
            "", "per roaster:"]
    for rid, info in r["per_roaster"].items():
        cov = ", ".join(f"{k} {v}" for k, v in info["coverage"].items()) or "no days in range"
        out.append(f"  {rid:<22} first {info['first_day']} last {info['last_day']}  {cov}")
    out += ["", f"gaps in range: {r['gaps']}", "latest runs:"]
    out += [f"  {x['created_at'][:19]} {x['roaster_id']:<20} {x['kind']:<7} {x['status']:<8} {x['day']}"
            for x in r["latest_runs"]]
    out.append("disk:")
    for name, info in r["disk"].items():
        if isinstance(info, dict):
            out.append(f"  {name:<12} {info['free_bytes'] / 2**30:.1f} GiB free of "
                       f"{info['total_bytes'] / 2**30:.1f} GiB ({info['path']})")
    out.append(f"  database     {r['disk']['database_bytes'] / 2**20:.1f} MiB")
    out += restore_lines(r["restore"])
    return "\n".join(out)


def restore_lines(restore: dict[str, Any]) -> list[str]:
    """What restores left: a rebuild still to do, and the schemas they set aside."""
    out = []
    if restore["pending_rebuild"]:
        out.append(f"restore of {restore['pending_rebuild']['file']}: rebuild pending (any writing command, "
                   "e.g. coffee-runner init, finishes it)")
    for group in restore["set_aside"]:
        out.append(f"set aside by a restore: {', '.join(group['schemas'])} "
                   f"(drop with: coffee-runner restore --drop-set-aside {group['suffix']})")
    return out


def plan_text(plan: Plan) -> str:
    out = [f"plan ({plan.strategy}) {plan.start}..{plan.end}: {len(plan.items)} item(s), "
           f"{plan.gaps} gap(s) now"]
    out += _listed([f"  {i.roaster_id:<22} {i.day} {i.status:<12} -> {i.action}"
                    + (f"  ({i.reason})" if i.status == "stale" and i.reason else "") for i in plan.items])
    counts = ", ".join(f"{k} {v}" for k, v in sorted(plan.counts.items())) or "nothing to do"
    out += [f"actions: {counts}", f"estimate: {plan.estimate_seconds:.0f} s"]
    return "\n".join(out)


def backfill_text(s: Summary) -> str:
    items = ", ".join(f"{k} {v}" for k, v in s.items.items())
    out = [f"backfill {s.backfill_id}: {s.status}", f"items: {items}",
           f"gaps: {s.gaps_before} before, {s.gaps_after} after"]
    if s.dbt:
        out.append(f"dbt build: {'ok' if s.dbt.get('ok') else 'FAILED'} {s.dbt.get('counts')}")
    if s.unrecoverable:
        out.append("unrecoverable:")
        out += _listed([f"  {u['roaster_id']:<22} {u['day']} {u['reason']}" for u in s.unrecoverable])
    if s.error:
        out.append(f"note: {s.error}")
    out.append(f"elapsed: {s.elapsed_seconds:.1f} s")
    return "\n".join(out)


def verify_text(r: dict[str, Any]) -> str:
    out = [f"verify {r['start']}..{r['end']}: {'OK' if r['ok'] else 'FAILED'}",
           f"dbt test: {'ok' if r['dbt']['ok'] else 'FAILED'} {r['dbt']['counts']}"]
    out += [f"  {f['status']}: {f['node']} ({f['failures']} rows)" for f in r["dbt"]["failures"]]
    out.append("integrity: " + ", ".join(f"{k} {v}" for k, v in r["integrity"].items()))
    out.append("coverage: " + ", ".join(f"{k} {v}" for k, v in sorted(r["coverage"].items())))
    out += [_drift_line(d) for d in r.get("shape_drift", [])]
    if r["gaps"]:
        out.append("gaps not acknowledged:")
        out += _listed([f"  {g['roaster_id']:<22} {g['day']} {g['status']}" for g in r["gaps"]])
    return "\n".join(out)


def digests_text(r: dict[str, Any]) -> str:
    out = [f"digests {r['start']}..{r['end']}: {'OK' if r['ok'] else 'FAILED'}",
           f"captures {r['captures']}: byte-exact {r['byte_exact']}, stored before bodies were kept byte for byte "
           f"{r['not_byte_exact']}; distinct bodies checked {r['bodies_checked']}"]
    out += [f"  sha256 mismatch: {m['sha256']} (stored bytes hash to {m['recomputed']})"
            for m in r["mismatched_bodies"]]
    out += [f"  body missing: {sha}" for sha in r["missing_bodies"]]
    if r["length_mismatches"]:
        out.append(f"  captures whose byte_length differs from their body's: {r['length_mismatches']}")
    return "\n".join(out)


def _drift_line(d: dict[str, Any]) -> str:
    changed = [f"lost {', '.join(d['lost_keys'])}"] if d["lost_keys"] else []
    changed += [f"gained {', '.join(d['gained_keys'])}"] if d["gained_keys"] else []
    return f"shape drift: {d['roaster_id']} {d['day']}: {'; '.join(changed)}"


def gaps_text(report: dict[str, Any]) -> str:
    lines = [f"{g['roaster_id']:<24} {g['day']} {g['status']:<12} {g['reason'] or ''}"
             f"{'  (acknowledged)' if g['acknowledged'] else ''}" for g in report["gaps"]]
    counts = ", ".join(f"{k} {v}" for k, v in report["counts"].items()) or "none"
    lines.append(f"{len(report['gaps'])} gap(s) in {report['start']}..{report['end']}: {counts}")
    return "\n".join(lines)


def fetch_text(summaries: list[RunSummary], paused: dict[str, str]) -> str:
    lines = [f"{s.roaster_id:<24} {s.status:<8} pages={s.pages:<4} artifacts={s.artifacts:<4} "
             f"{s.error or ''}".rstrip() for s in summaries]
    lines += [f"{roaster_id:<24} paused   {why}" for roaster_id, why in paused.items()]
    return "\n".join(lines)
