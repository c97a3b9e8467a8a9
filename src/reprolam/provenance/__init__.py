"""Provenance export: W3C PROV, Workflow Run RO-Crate, and pictures of a run's trace.

Example::

    from reprolam.provenance import export_run
    export_run(".reprolam", "0196a3", format="prov-json", output="run.prov.json")
    svg = export_run(".reprolam", "0196a3", format="svg")  # no output: the text itself
    export_run(".reprolam", "0196a3", format="rocrate", output="run-crate.zip")
    with open_store("./lab") as lab:
        import_crate(lab, "run-crate.zip")  # verified, then replay/audit/reproduce work

``prov`` and ``rocrate`` are imported only by the formats that need them
(``pip install 'reprolam[provenance]'``); pictures need nothing beyond reprolam.
"""

from __future__ import annotations

from reprolam.provenance._export import EXPORT_FORMATS, export_run
from reprolam.provenance._import import CrateError, ImportReport, import_crate
from reprolam.provenance._model import RunGraph, build_run_graph
from reprolam.provenance._output import ExportError

__all__ = [
    "EXPORT_FORMATS",
    "CrateError",
    "ExportError",
    "ImportReport",
    "RunGraph",
    "build_run_graph",
    "export_run",
    "import_crate",
]
