"""Provenance export: W3C PROV, Workflow Run RO-Crate, and pictures of a run's trace.

Example::

    from reprolam.provenance import export_run
    export_run(".reprolam", "0196a3", format="prov-json", output="run.prov.json")
    svg = export_run(".reprolam", "0196a3", format="svg")  # no output: the text itself

``prov`` and ``rocrate`` are imported only by the formats that need them
(``pip install 'reprolam[provenance]'``); pictures need nothing beyond reprolam.
"""

from __future__ import annotations

from reprolam.provenance._export import EXPORT_FORMATS, export_run
from reprolam.provenance._model import RunGraph, build_run_graph
from reprolam.provenance._output import ExportError

__all__ = ["EXPORT_FORMATS", "ExportError", "RunGraph", "build_run_graph", "export_run"]
