"""The raw store as a web archive: `export --warc DIR` and `import --warc FILE...`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from runner.archive.warc_in import import_warcs
from runner.archive.warc_out import Export, export_warc
from runner.cli.options import config_of, emit, json_option, range_options, roaster_option, roasters_of
from runner.core.clock import check_range
from runner.core.errors import InputError
from runner.store.db import resolve_target
from runner.transform.bootstrap import prepare_database


@click.command("export")
@click.option("--warc", "directory", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the WARC file and its CDXJ index.")
@range_options(required=False)
@roaster_option
@json_option
@click.pass_context
def export_cmd(ctx: click.Context, directory: Path, start: dt.date | None, end: dt.date | None,
               roaster_ids: tuple[str, ...], as_json: bool) -> None:
    """Captures as WARC 1.1 (request, response and revisit records, sha256 digests) plus a CDXJ index."""
    config = config_of(ctx)
    if start and end:
        check_range(start, end)
    ids = [r.id for r in roasters_of(config, roaster_ids)] if roaster_ids else None
    target = resolve_target()
    prepare_database(config, target)
    result = export_warc(target, directory, Export(start, end, ids))
    emit(as_json, result, f"{result['file']}: {result['responses']} responses, {result['revisits']} revisits "
                          f"({result['bytes']} bytes); index {result['index']}; left out: "
                          f"{result['no_response']} without a response, {result['not_byte_exact']} not byte-exact")


@click.command("import")
@click.option("--warc", "files", required=True, multiple=True,
              type=click.Path(dir_okay=False, path_type=Path), help="A WARC file (.warc or .warc.gz); repeatable.")
@click.argument("more", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@json_option
@click.pass_context
def import_cmd(ctx: click.Context, files: tuple[Path, ...], more: tuple[Path, ...], as_json: bool) -> None:
    """Load the shop captures of WARC files as archive captures (idempotent: twice adds nothing)."""
    config = config_of(ctx)
    paths = [*files, *more]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise InputError(f"no such file: {', '.join(missing)}")
    target = resolve_target()
    prepare_database(config, target)
    result = import_warcs(config, target, paths)
    emit(as_json, result, f"imported {result['captures']} captures ({result['bodies']} new bodies, "
                          f"{result['already_stored']} already stored); skipped {result['not_ours']} records of "
                          f"URLs that are no roaster's, {result['not_captures']} other records")
