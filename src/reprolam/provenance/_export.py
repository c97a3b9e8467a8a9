"""``export_run``: one entry point for every provenance format."""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reprolam.errors import ConfigError
from reprolam.provenance._model import RunGraph, build_run_graph
from reprolam.provenance._output import write_text
from reprolam.trace.contract import TraceStore

PROV_FORMATS = ("prov-json", "prov-n", "prov-xml")
PICTURE_FORMATS = ("dot", "svg", "mermaid")
EXPORT_FORMATS = (*PROV_FORMATS, "rocrate", *PICTURE_FORMATS)

StoreArg = TraceStore | str | os.PathLike[str] | None


def export_run(
    store: StoreArg,
    run_ref: str,
    *,
    format: str,
    output: str | os.PathLike[str] | None = None,
    max_file_bytes: int | None = None,
    license: str | None = None,
) -> Path | str:
    """Export a run (full id or unique prefix) as provenance or as a picture of its trace.

    Text formats return the text when ``output`` is None, else write it there and return the
    path. ``rocrate`` needs ``output``: a directory, or a path ending in ``.zip``. Writes are
    atomic: nothing is left at ``output`` if the export fails.

    An RO-Crate carries every artifact's bytes (so ``reprolam import`` can bring the run
    back) unless ``max_file_bytes`` caps them; ``license`` (SPDX id or URL) is the crate's,
    by default the workflow's declared one, else CC-BY-4.0 (the crate notes which).
    """
    if format not in EXPORT_FORMATS:
        raise ConfigError(
            f"unknown export format {format!r}: choose one of {', '.join(EXPORT_FORMATS)}"
        )
    if output is not None and not os.fspath(output):  # Path("") is ".": never meant
        raise ConfigError(
            "{output} is an empty path: give a file path (for rocrate, a directory or a .zip)"
        )
    if format != "rocrate" and output is not None and os.fspath(output).endswith(("/", os.sep)):
        raise ConfigError(  # Path("pic/") is "pic": a file was written where a directory was meant
            f"{{output={os.fspath(output)}}} ends in {os.sep}, naming a directory, and the "
            f"{format} format writes one file",
            hint=f"give a file path, e.g. {{output={os.fspath(output)}run.{_SUFFIXES[format]}}}",
        )
    if format == "rocrate" and output is None:
        raise ConfigError(
            "the rocrate format writes a directory or a zip file: "
            "give {output=DIR} or {output=FILE.zip}"
        )
    if format == "rocrate" and output is not None:
        _refuse_unwritten_archive(Path(output))
    if format == "rocrate" and license is not None:  # "" too: a crate must name its license
        from reprolam.provenance._crate_terms import check_license

        check_license(license)  # before the run is verified and its crate built
    require_libraries(format)  # before reading anything: a missing library is said first
    with _opened(store) as trace:
        run_id = trace.resolve_run_id(run_ref)
        if format in PROV_FORMATS or format == "rocrate":
            _require_intact(trace, run_id, format)
        graph = build_run_graph(trace, run_id)
        if format == "rocrate":
            from reprolam.provenance._rocrate import write_crate

            assert output is not None
            return write_crate(
                trace, graph, Path(output), max_file_bytes=max_file_bytes, license=license
            )
    text = render(graph, format)
    return text if output is None else write_text(Path(output), text)


# Archive suffixes a crate is not written as: such a path got a directory of that name.
_OTHER_ARCHIVES = (".tar", ".tgz", ".gz", ".bz2", ".tbz2", ".xz", ".txz", ".zst", ".7z", ".rar")


_SUFFIXES = {
    "prov-json": "prov.json",
    "prov-n": "provn",
    "prov-xml": "prov.xml",
    "dot": "dot",
    "svg": "svg",
    "mermaid": "mmd",
}


def _refuse_unwritten_archive(output: Path) -> None:
    """A crate is written as a directory or a .zip: ``crate.tar.gz`` would be a directory
    named like an archive, which no tool that opens such an archive reads."""
    suffix = output.suffix.lower()
    if suffix not in _OTHER_ARCHIVES:
        return
    archive = "".join(s for s in output.suffixes if s.lower() in (*_OTHER_ARCHIVES, ".tar"))
    stem = output.name[: -len(archive)] if archive else output.stem
    raise ConfigError(
        f"{{output={output}}}: the rocrate format writes a directory or a .zip file, not a "
        f"{archive or suffix} archive",
        option="output",
        hint=f"give {{output={output.with_name(stem + '.zip')}}}, or a directory",
    )


def _require_intact(trace: TraceStore, run_id: str, format: str) -> None:
    """Provenance is a claim about what happened: a record that does not verify (edited,
    damaged, a step or an artifact missing) is not exported as one. A crate carries the
    runs its import needs (fork ancestors, the original a reproduction verifies): all are
    checked, as the import will. Pictures stay available to look at a damaged run."""
    from reprolam.provenance._verified import require_verified

    run = trace.get_run(run_id)
    if format == "rocrate":
        from reprolam.provenance._crate_files import trace_runs

        runs = trace_runs(trace, run)
    else:
        runs = [run]
    require_verified(
        trace,
        runs,
        where=f"cannot export run {run_id} as {format}: ",
        then=f"nothing was exported (`reprolam audit {run_id}` lists every problem)",
    )


def render(graph: RunGraph, format: str) -> str:
    """The text of a text format (everything but rocrate)."""
    if format in PROV_FORMATS:
        from reprolam.provenance._prov import prov_document, serialize

        return serialize(prov_document(graph), format)
    if format == "svg":
        from reprolam.provenance._svg import render_svg

        return render_svg(graph)
    from reprolam.provenance._text import render_dot, render_mermaid

    return render_dot(graph) if format == "dot" else render_mermaid(graph)


_NEEDS = {
    "prov-json": (("prov", "prov"),),
    "prov-n": (("prov", "prov"),),
    "prov-xml": (("prov", "prov"), ("lxml", "lxml")),
    "rocrate": (("rocrate", "rocrate"),),
}


def require_libraries(format: str, doing: str = "") -> None:
    """``ConfigError`` naming the fix if a library ``format`` needs is not installed.

    ``doing`` names what needs it (default: the export in ``format``)."""
    doing = doing or f"{format} export"
    for module, package in _NEEDS.get(format, ()):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            fix = (
                "pip install lxml (PROV-XML only; or 'prov[xml]')"
                if module == "lxml"
                else "pip install 'reprolam[provenance]'"
            )
            raise ConfigError(
                f"the {doing} needs the {package!r} package, which is not installed ({exc}): {fix}"
            ) from exc
        _require_version(package, doing)


# The oldest releases that work (pyproject's provenance extra says the same): rocrate before
# 0.15 takes no ROCrate(version=...), prov before 2.1.1 writes PROV-N that does not parse.
_OLDEST = {"rocrate": (0, 15), "prov": (2, 1, 1)}


def _require_version(package: str, doing: str) -> None:
    oldest = _OLDEST.get(package)
    if oldest is None:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version(package)
    except PackageNotFoundError:
        return  # importable but not installed as a distribution (a source checkout): trust it
    numbers = tuple(int(part) for part in re.findall(r"\d+", installed)[: len(oldest)])
    if numbers < oldest:
        wanted = ".".join(map(str, oldest))
        raise ConfigError(
            f"the {doing} needs {package} {wanted} or later, and {package} {installed} is "
            f"installed: pip install '{package}>={wanted}'"
        )


@contextmanager
def _opened(store: StoreArg) -> Iterator[TraceStore]:
    """The store itself, or one opened from a path and closed afterwards."""
    if isinstance(store, TraceStore):
        yield store
        return
    from reprolam.trace.open import open_store

    trace = open_store(store)
    try:
        yield trace
    finally:
        trace.close()
