"""``reprolam store ...``: whole-store operations (for now, copying a store into another)."""

from __future__ import annotations

import os

import click

from reprolam.cli.main import emit_json, json_option, reports_errors
from reprolam.errors import ConfigError, ReprolamError


@click.group()
def store() -> None:
    """Operate on whole trace stores: copy one into another, import a crate into one.

    \b
    Example:
      reprolam store copy .reprolam postgresql://me@db/trace --dst-artifacts /shared/artifacts
      reprolam --store ./lab store import run-crate.zip
    """


@store.command()
@click.argument("src", metavar="SRC")
@click.argument("dst", metavar="DST")
@click.option(
    "--src-artifacts",
    metavar="PATH",
    help="SRC's artifact directory: required for a PostgreSQL SRC (default "
    "$REPROLAM_ARTIFACTS); for a directory SRC, only if not SRC/artifacts.",
)
@click.option(
    "--dst-artifacts",
    metavar="PATH",
    help="DST's artifact directory, likewise (created if needed).",
)
@json_option
@reports_errors
def copy(
    src: str, dst: str, src_artifacts: str | None, dst_artifacts: str | None, as_json: bool
) -> None:
    """Copy every run of SRC into DST: steps, forks, artifacts (blobs included), lineage.

    SRC and DST are each a store directory (SQLite) or a postgresql:// DSN; DST is
    created if needed, SRC must exist. Every artifact is re-hashed while copying. Runs
    already in DST with identical content are skipped, so copying again is safe and
    finishes an interrupted copy; if DST holds any run with different content, nothing is
    copied. Runs still running in SRC are not copied: copy again once they have finished.
    The global --store/--artifacts options do not apply here.

    \b
    Example:
      reprolam store copy .reprolam postgresql://me:pw@db/trace --dst-artifacts /mnt/artifacts
      reprolam store copy postgresql://me@db/trace ./backup --src-artifacts /mnt/artifacts --json
    """
    from reprolam.trace.copy import copy_store
    from reprolam.trace.open import open_store

    _check_artifacts("SRC", src, src_artifacts, "--src-artifacts")
    _check_artifacts("DST", dst, dst_artifacts, "--dst-artifacts")

    def progress(what: str, run_id: str) -> None:
        if not as_json:
            click.echo(f"  {what:<9} {run_id}", err=True)

    with (
        open_store(src, artifacts=src_artifacts, create=False) as source,
        open_store(dst, artifacts=dst_artifacts) as destination,
    ):
        try:
            report = copy_store(
                source, destination, on_run=lambda what, run: progress(what, run.id)
            )
        except ReprolamError as exc:  # a blob the source lacks: its option is --src-artifacts
            exc.what = exc.what.replace("{artifacts}", "{src_artifacts}")
            exc.hint = exc.hint and exc.hint.replace("{artifacts}", "{src_artifacts}")
            raise
    if as_json:
        emit_json(report.to_dict())
        return
    done = len(report.copied) + len(report.completed)
    click.echo(
        f"copied {done} run{'s' * (done != 1)} ({report.steps} steps, {report.artifacts} "
        f"artifacts, {report.bytes:,} bytes) from {report.source} to {report.destination}; "
        f"{len(report.skipped)} already there, skipped"
    )
    if report.running:
        click.echo(
            f"warning: {len(report.running)} run{'s' * (len(report.running) != 1)} still "
            f"running in {report.source} (or forked from one) not copied: copy again once "
            f"{'they have' if len(report.running) != 1 else 'it has'} finished",
            err=True,
        )
    for key in report.repaired:
        click.echo(
            f"repaired artifact {key} in {report.destination}: its blob file was damaged, "
            f"{report.source}'s bytes replaced it",
            err=True,
        )
    for why in report.damaged.values():
        click.echo(f"warning: already in {report.destination}, kept as it was: {why}", err=True)


def _import_command() -> click.Command:
    from reprolam.cli.import_cmd import import_

    return import_


store.add_command(_import_command(), name="import")


def _check_artifacts(which: str, location: str, given: str | None, option: str) -> None:
    """Name this command's option when a PostgreSQL side has no artifacts directory."""
    from reprolam.trace._dsn import redact
    from reprolam.trace.open import ARTIFACTS_ENV_VAR, POSTGRES_SCHEMES

    scheme, sep, _ = location.partition("://")
    if given or not sep or scheme not in POSTGRES_SCHEMES or os.environ.get(ARTIFACTS_ENV_VAR):
        return
    raise ConfigError(
        f"{which} {redact(location)} is a PostgreSQL store, which keeps artifacts over 32 KiB "
        f"in a directory: pass {option} PATH (or set {ARTIFACTS_ENV_VAR})"
    )
