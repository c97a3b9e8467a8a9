"""``reprolam import CRATE`` (also ``reprolam store import``): a crate's run back into a store."""

from __future__ import annotations

import click

from reprolam.cli.main import Ctx, emit_json, json_option, reports_errors


@click.command(name="import")
@click.argument("crate", metavar="CRATE", type=click.Path())  # not Path: "" would be "."
@json_option
@click.pass_obj
@reports_errors
def import_(obj: Ctx, crate: str, as_json: bool) -> None:
    """Import the run in CRATE (a directory or .zip from `reprolam export --format rocrate`).

    Loads the run, its steps, artifacts and environment, its fork ancestry (the parent
    steps a fork inherits) and, for a reproduction, the original. Every artifact is
    re-hashed and every step's hash chain checked first: a crate that does not verify is
    refused, naming the file, and nothing is written. Afterwards replay, audit and
    reproduce work on the run as on one recorded here. Importing twice changes nothing.

    \b
    Example:
      reprolam --store ./lab import run-crate.zip
      reprolam --store ./lab reproduce 0196a3
    """
    from reprolam.provenance._import import verify_crate

    verified = verify_crate(crate)  # first: a crate refused creates no store
    with obj.open(create=True) as rl:
        report = rl.import_crate(verified)
    if as_json:
        emit_json(report.to_dict())
        return
    copy = report.copy
    done = len(copy.copied) + len(copy.completed)
    click.echo(
        f"imported run {report.run} from {report.crate}: {done} run{'s' * (done != 1)} "
        f"copied ({copy.steps} steps, {copy.artifacts} artifacts, {copy.bytes:,} bytes, all "
        f"verified), {len(copy.skipped)} already there"
    )
