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
    help="A file, or a directory to write NAME.EXT into (default: ./NAME.EXT).",
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
    """
    with obj.open() as rl:
        got = rl.get(run_ref, name, out=out, as_=as_)
    respond(
        as_json,
        got.to_dict(),
        lambda: click.echo(
            f"{got.path}  ({got.format}, {got.size} bytes, artifact {got.digest[:12]})"
        ),
    )
