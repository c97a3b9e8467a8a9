"""``reprolam get``: one artifact out of the store, in an open format."""

from __future__ import annotations

import click

from reprolam.cli.main import Ctx, json_option, reports_errors, respond

# Kept literal (reprolam.results imports pandas): `reprolam --help` lists this command.
FORMATS = ("native", "json", "csv", "parquet", "npy", "npz", "png", "txt")


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.argument("name", metavar="NAME|STEP.NAME")
@click.option(
    "-o",
    "--out",
    "--output",  # as export spells it
    "out",
    metavar="PATH",
    help="A file, or a directory to write NAME.EXT into (default: ./NAME.EXT); - for stdout.",
)
@click.option(
    "--as",
    "as_",
    type=click.Choice(FORMATS),
    help="Format (default: the extension of --out, else by type: frames csv, arrays npy, "
    "sparse matrices npz, PNG png, text txt, data json).",
)
@json_option
@click.pass_obj
@reports_errors
def get(obj: Ctx, run_ref: str, name: str, out: str | None, as_: str | None, as_json: bool) -> None:
    """Write RUN's artifact NAME (a workflow output, an input, or STEP.NAME) to a file.

    Reads that one artifact and checks its digest; nothing is replayed or executed.

    \b
    Example:
      reprolam get 0196a3 metrics                # -> metrics.json
      reprolam get 0196a3 train_model.model --as native -o model.rlc
      reprolam get 0196a3 X --as parquet -o X.parquet   # breast-cancer's features
      reprolam get 0196a3 metrics -o - | jq .accuracy   # to stdout
    """
    if out == "-":
        _to_stdout(obj, run_ref, name, as_, as_json)
        return
    with obj.open() as rl:
        got = rl.get(run_ref, name, out=out, as_=as_)
    respond(
        as_json,
        got.to_dict(),
        lambda: click.echo(
            f"{got.path}  ({got.format}, {got.size} bytes, artifact {got.digest[:12]})"
        ),
    )


def _to_stdout(obj: Ctx, run_ref: str, name: str, as_: str | None, as_json: bool) -> None:
    """``-o -``: the artifact's bytes on stdout (as ``export -o -``), written in a temporary
    directory first, so a refusal leaves stdout empty."""
    import shutil
    import sys
    import tempfile
    from pathlib import Path

    from reprolam.errors import ConfigError

    if as_json:
        raise ConfigError(
            "{out=-} writes the artifact to stdout, where --json would go too: pass one of them"
        )
    with obj.open() as rl, tempfile.TemporaryDirectory(prefix="reprolam-get-") as scratch:
        got = rl.get(run_ref, name, out=scratch, as_=as_)
        if got.codec == "dir":
            raise ConfigError(
                f"{name!r} is a directory, which stdout cannot hold: pass {{out=PATH}}"
            )
        with Path(got.path).open("rb") as source:
            shutil.copyfileobj(source, sys.stdout.buffer)
        sys.stdout.buffer.flush()
