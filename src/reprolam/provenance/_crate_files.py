"""The files of a crate: artifacts (canonical bytes + open formats), environments, trace.

``reprolam/trace.json`` (format ``reprolam-trace/1``) makes a crate importable: the run
records (the run, its fork ancestors, and for a reproduction the original it verifies),
each run's own steps exactly as recorded (hash chain included), and for every artifact
they reference its codec, size and the crate file holding its canonical bytes. The
importer re-hashes every one of those files; nothing in the crate's JSON-LD is trusted.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

from reprolam.errors import NotFoundError
from reprolam.provenance._model import ArtifactNode, RunGraph, artifact_node, redact
from reprolam.provenance._open_formats import open_files
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import RunRecord, StepRecord

TRACE_FORMAT = "reprolam-trace/1"
TRACE_PATH = "reprolam/trace.json"

AddEntity = Callable[[str, dict[str, Any]], Any]
FormalFor = Callable[[str], list[Any]]


class CrateFiles:
    """Adds artifact, environment and trace files to a crate, each once."""

    def __init__(
        self,
        store: TraceStore,
        graph: RunGraph,
        crate: Any,
        add: AddEntity,
        max_file_bytes: int | None,
    ) -> None:
        self.store = store
        self.graph = graph
        self.crate = crate
        self.add = add
        self.max_file_bytes = max_file_bytes
        self.entities: dict[str, Any] = {}  # digest -> entity of its canonical bytes
        self.paths: dict[str, str] = {}  # digest -> crate path of its canonical bytes

    # -- artifacts --------------------------------------------------------------------------------

    def add_artifacts(self, formal_for: FormalFor) -> None:
        for digest, artifact in self.graph.artifacts.items():
            self.entities[digest] = self.artifact(artifact, formal_for(digest))

    def entity(self, digest: str) -> Any:
        """The entity of an artifact, added now if the trace's steps did not reference it."""
        if digest not in self.entities:  # e.g. a fork ancestor's own final output
            node = artifact_node(self.store, digest, ())
            self.entities[digest] = self.artifact(node, [])
        return self.entities[digest]

    def artifact(self, art: ArtifactNode, formal: list[Any]) -> Any:
        props: dict[str, Any] = {
            "name": art.label,
            "reprolam:digest": art.digest,
            "reprolam:codec": art.codec,
        }
        if formal:
            props["exampleOfWork"] = formal
        if art.size is not None:
            props["contentSize"] = str(art.size)
        if art.stored and (self.max_file_bytes is None or (art.size or 0) <= self.max_file_bytes):
            _, data = self.store.get_artifact(art.digest)  # verified against its digest
            path = f"artifacts/{art.digest}{art.extension}"
            self.paths[art.digest] = path
            entity = self.crate.add_file(
                io.BytesIO(data),
                path,
                properties={
                    "@type": "File",
                    "encodingFormat": art.media_type,
                    "description": f"canonical bytes ({art.codec} codec) of {art.label}: "
                    "what the digest covers",
                    **props,
                },
            )
            opened = self.open_copies(art, data, formal)
            if opened:
                entity["reprolam:openFormat"] = opened
            return entity
        why = (
            f"not included: {art.size} bytes is over the {self.max_file_bytes}-byte limit"
            if art.stored
            else "not included: the store did not hold it at export time"
        )
        return self.add(
            f"#artifact/{art.digest}",
            {"@type": "File", "description": f"{why}; fetch it by digest from the store", **props},
        )

    def open_copies(self, art: ArtifactNode, data: bytes, formal: list[Any]) -> list[Any]:
        found = []
        base = f"artifacts/open/{_stem(art)}-{art.short}"
        for item in open_files(art.codec, data):
            props: dict[str, Any] = {
                "@type": "File",
                "name": f"{art.label}{item.suffix}",
                "encodingFormat": item.media_type,
                "description": f"{item.description}: {art.label} in an open format, "
                "converted from the canonical bytes",
                "contentSize": str(len(item.data)),
                "isBasedOn": {"@id": f"artifacts/{art.digest}{art.extension}"},
            }
            if formal:
                props["exampleOfWork"] = formal
            found.append(
                self.crate.add_file(io.BytesIO(item.data), base + item.suffix, properties=props)
            )
        return found

    def environment(self, run: RunRecord, env: ArtifactNode) -> Any:
        name = "environment.json" if run.id == self.graph.run.id else f"environment-{run.id}.json"
        existing = self.crate.get(name)
        if existing is not None:
            return existing
        _, data = self.store.get_artifact(env.digest)
        self.paths.setdefault(env.digest, name)
        return self.crate.add_file(
            io.BytesIO(data),
            name,
            properties={
                "@type": "File",
                "name": f"environment snapshot of run {run.id}",
                "description": "Python, platform, installed packages and the workflow's "
                "actions when the run was recorded",
                "encodingFormat": "application/json",
                "contentSize": str(len(data)),
                "reprolam:digest": env.digest,
                "about": {"@id": f"#run/{run.id}"},
            },
        )

    # -- the importable trace -------------------------------------------------------------------

    def add_trace(self) -> None:
        runs = trace_runs(self.store, self.graph.run)
        steps = {run.id: self.store.own_steps(run.id) for run in runs}
        artifacts: dict[str, dict[str, Any]] = {}
        for run in runs:
            for digest in _run_refs(self.store, run, steps[run.id]):
                artifacts.setdefault(digest, self.manifest_entry(digest))
        trace = {
            "format": TRACE_FORMAT,
            "run": self.graph.run.id,
            # Planner configs hold no keys by contract; redacted anyway, as in every export.
            "runs": [{**run.to_dict(), "planner": redact(run.planner)} for run in runs],
            "steps": {rid: [s.to_dict() for s in own] for rid, own in steps.items()},
            "artifacts": artifacts,
        }
        text = json.dumps(trace, indent=1, sort_keys=True, ensure_ascii=False, allow_nan=True)
        self.crate.add_file(
            io.BytesIO(text.encode()),
            TRACE_PATH,
            properties={
                "@type": "File",
                "name": "reprolam trace records",
                "description": "the run, its fork ancestors (and the original it reproduces) "
                "with their steps as recorded, for `reprolam import`; every artifact listed "
                "is re-hashed on import",
                "encodingFormat": "application/json",
                "conformsTo": {"@id": f"{_NS_DOC}{TRACE_FORMAT}"},
                "about": {"@id": f"#run/{self.graph.run.id}"},
            },
        )

    def add_readme(self, description: str) -> None:
        run = self.graph.run
        text = (
            f"# reprolam run {run.id} of {run.workflow}\n\n{description}\n\n"
            "## What is here\n\n"
            "- `ro-crate-metadata.json`: the run, each step, its params and artifacts, "
            "as a Workflow Run RO-Crate (Provenance Run Crate profile).\n"
            "- `artifacts/<digest>.<ext>`: every artifact in reprolam's canonical encoding; "
            "the BLAKE3 digest of the file is its name.\n"
            "- `artifacts/open/`: the same values in open formats (CSV, .npy, .npz + JSON "
            "for models, JSON, text): no reprolam needed to read them.\n"
            "- `workflow.json`: the workflow's actions; `environment.json`: the recorded "
            "environment.\n"
            "- `reprolam/trace.json`: the records `reprolam import` loads (it re-hashes "
            "every artifact), after which `reprolam replay`, `audit` and `reproduce` work "
            "on the run.\n\n"
            "```\nexport REPROLAM_STORE=./store\nreprolam import THIS_CRATE\n"
            f"reprolam reproduce {run.id}\n```\n"
        )
        self.crate.add_file(
            io.BytesIO(text.encode()),
            "README.md",
            properties={
                "@type": "File",
                "name": "README",
                "about": {"@id": "./"},
                "encodingFormat": "text/markdown",
            },
        )

    def manifest_entry(self, digest: str) -> dict[str, Any]:
        try:
            record = self.store.get_artifact_record(digest)
        except NotFoundError:
            return {"codec": None, "size": None, "path": None}
        within = self.max_file_bytes is None or record.size <= self.max_file_bytes
        if digest not in self.paths and within:
            self.add_bytes(artifact_node(self.store, digest, ()))
        return {"codec": record.codec, "size": record.size, "path": self.paths.get(digest)}

    def add_bytes(self, art: ArtifactNode) -> None:
        _, data = self.store.get_artifact(art.digest)
        path = f"artifacts/{art.digest}{art.extension}"
        self.paths[art.digest] = path
        self.crate.add_file(
            io.BytesIO(data),
            path,
            properties={
                "@type": "File",
                "name": art.label,
                "encodingFormat": art.media_type,
                "reprolam:digest": art.digest,
                "reprolam:codec": art.codec,
                "contentSize": str(len(data)),
            },
        )


_NS_DOC = "https://reprolam.dev/formats/"


def trace_runs(store: TraceStore, run: RunRecord) -> list[RunRecord]:
    """The runs a crate must carry to bring ``run`` back: ancestors and originals, parents first."""
    from reprolam.trace.copy import parents_first

    found: dict[str, RunRecord] = {}
    pending = [run]
    while pending:
        current = pending.pop()
        if current.id in found:
            continue
        found[current.id] = current
        for other in (current.parent_id, current.verifies):
            if other is not None and other not in found:
                try:
                    pending.append(store.get_run(other))
                except NotFoundError:
                    continue  # referenced by id only; the importer says so
    return parents_first(list(found.values()))


def _run_refs(store: TraceStore, run: RunRecord, steps: list[StepRecord]) -> list[str]:
    """Every artifact a run references: as ``store copy`` copies them (code included, and
    the contents of file and directory artifacts)."""
    from reprolam.trace.copy import _code_refs, _run_refs, _step_refs, with_contents

    refs = [*_run_refs(run), *_code_refs(store, run.environment)]
    for step in steps:
        refs += _step_refs(step)
    return with_contents(store, list(dict.fromkeys(refs)))


def _stem(art: ArtifactNode) -> str:
    name = art.names[0] if art.names else "artifact"
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:48]
