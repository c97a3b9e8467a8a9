"""``reprolam export``: a run as W3C PROV, a Workflow Run RO-Crate, or a picture of its trace."""

from __future__ import annotations

import click

from reprolam.cli.main import Ctx, reports_errors

# Kept literal (not imported from reprolam.provenance) so `reprolam --help` stays light.
FORMATS = ("prov-json", "prov-n", "prov-xml", "rocrate", "dot", "svg", "mermaid")


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    required=True,
    help="prov-json / prov-n / prov-xml: W3C PROV. rocrate: a Workflow Run RO-Crate "
    "(directory, or zip if PATH ends in .zip). dot / svg / mermaid: a picture of the trace.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(),  # not Path: "" would be "." (the working directory)
    help="Write here (atomically; only a regular file is ever replaced). Without it, or "
    "with -o -, text formats print to stdout; rocrate needs a path.",
)
@click.option(
    "--license",
    "license_",
    metavar="SPDX_OR_URL",
    help="The crate's license (rocrate only). Default: the workflow's declared license, "
    "else CC-BY-4.0 (the crate notes that it was a default).",
)
@click.pass_obj
@reports_errors
def export(obj: Ctx, run_ref: str, fmt: str, output: str | None, license_: str | None) -> None:
    """Export RUN's provenance: every step, artifact, planner decision, failure and fork link.

    RUN is a full run id or a unique prefix.

    \b
    Example:
      reprolam export 0196a3 --format prov-json -o run.prov.json
      reprolam export 0196a3 --format rocrate -o run-crate.zip --license CC0-1.0
      reprolam export 0196a3 --format svg -o trace.svg
      reprolam export 0196a3 --format mermaid      # print to stdout
    """
    from reprolam.errors import ConfigError

    if license_ is not None and fmt != "rocrate":
        raise ConfigError(f"{{license}} applies to {{format=rocrate}} only, not {fmt}")
    if output == "-":
        if fmt == "rocrate":
            raise ConfigError(
                "the rocrate format writes a directory or zip: give {output=PATH}, not -"
            )
        output = None
    with obj.open() as rl:
        result = rl.export(run_ref, format=fmt, output=output, license=license_)
    if output is None:
        click.echo(str(result), nl=False)
    else:
        click.echo(f"wrote {result}")
