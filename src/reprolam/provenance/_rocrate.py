"""A Workflow Run RO-Crate of a run: RO-Crate 1.1 + Process/Workflow/Provenance Run Crate 0.5.

Checked by ``rocrate-validator`` (tests/test_provenance_validators.py): no REQUIRED failure
for any profile the crate claims, RECOMMENDED met where the data exists.

Profile fit: the workflow (main entity) is the run's *action space* - one
``SoftwareApplication`` tool and one ``HowToStep`` per action that ran, ``position`` in
the workflow's declared order - not a fixed sequence, because the planner chose the order
at run time. Each executed step is a ``CreateAction`` (tool run) with a ``ControlAction``
pointing at the action's ``HowToStep``; the engine's ``OrganizeAction`` lists the control
actions and results in the run's ``CreateAction``. Rejected proposals and failed planner
consultations never ran, so they are ``ChooseAction``s by the planner
(``FailedActionStatus`` + ``error``), mentioned by the root but not orchestrated.

Artifacts: canonical bytes (``artifacts/<digest>.<ext>``, what the digest covers) plus
open formats next to them (``_open_formats``), both ``exampleOfWork`` of the formal
parameters they were used or produced as. ``reprolam/trace.json`` holds the records
``reprolam import`` needs to bring the run back into a store (``_crate_files``).
reprolam-specific facts use ``reprolam:`` terms (README, "Provenance export").
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from reprolam.hashing import digest
from reprolam.provenance._crate_files import CrateFiles
from reprolam.provenance._crate_terms import (
    ACTION_URN,
    ACTIVE,
    BIOSCHEMAS_WORKFLOW,
    COMPLETED,
    FAILED,
    PROFILES,
    PROVENANCE_PROFILE,
    REPROLAM_URL,
    RO_CRATE_VERSION,
    WFRUN_CONTEXT,
    WORKFLOW_RO_CRATE,
    crate_license,
    crate_time,
    license_url,
    planner_id,
    single_values,
)
from reprolam.provenance._model import RunGraph, StepNode, redact, to_json
from reprolam.provenance._output import write_atomically
from reprolam.provenance._prov import NS
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import RunRecord, RunStatus, StepKind, StepStatus

_PARAM_TYPES = {bool: "Boolean", int: "Integer", float: "Float", str: "Text"}


def write_crate(
    store: TraceStore,
    graph: RunGraph,
    output: Path,
    *,
    max_file_bytes: int | None,
    license: str | None = None,
) -> Path:
    """Write the crate to ``output``: a directory, or a zip file if it ends in ``.zip``."""
    as_zip = output.suffix.lower() == ".zip"

    def write(tmp: Path) -> None:
        crate = _Builder(store, graph, max_file_bytes, license).build()  # file sources: streams
        if as_zip:
            _write_zip(crate, tmp)
        else:
            crate.write(tmp)

    return write_atomically(output, write, directory=not as_zip)


def _write_zip(crate: Any, path: Path) -> None:
    """The crate written as a directory beside ``path``, then zipped into ``path``.

    Not rocrate's ``write_zip``: it compresses each in-memory file whole into a buffer it then
    reads 8 KiB at a time, copying what is left on every read, so a 32 MB artifact took 15 s
    and a 200 MB one hours. The members are the directory's files, named as ``write_zip``
    names them (their paths in the crate), in a stable order, with its fixed 1980 time."""
    staging = Path(tempfile.mkdtemp(prefix=f"{path.name}.", dir=path.parent))
    try:
        crate.write(staging)
        files = sorted(p for p in staging.rglob("*") if p.is_file())
        with zipfile.ZipFile(path, "x", compression=zipfile.ZIP_DEFLATED) as archive:
            for file in files:
                name = file.relative_to(staging).as_posix()
                with file.open("rb") as src, archive.open(name, "w", force_zip64=True) as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


class _Builder:
    def __init__(
        self, store: TraceStore, graph: RunGraph, max_file_bytes: int | None, license: str | None
    ) -> None:
        from rocrate.model.contextentity import ContextEntity  # type: ignore[import-untyped]
        from rocrate.rocrate import ROCrate  # type: ignore[import-untyped]

        self.store = store
        self.graph = graph
        self.license = license
        self.crate = ROCrate(gen_preview=True, version=RO_CRATE_VERSION)
        self.ContextEntity = ContextEntity
        self.files = CrateFiles(store, graph, self.crate, self.add, max_file_bytes)
        self.tools: dict[tuple[str, str], Any] = {}  # (action, fingerprint) -> tool entity
        self.howtos: dict[tuple[str, str], Any] = {}
        self.params: dict[str, Any] = {}  # formal parameter id -> entity

    def add(self, id_: str, props: dict[str, Any]) -> Any:
        return self.crate.add(self.ContextEntity(self.crate, id_, properties=props))

    def profiles(self) -> tuple[tuple[str, str], ...]:
        """The run crate profiles this crate meets. Provenance Run Crate needs a step the
        engine orchestrated (a tool in the workflow, a ``ControlAction``): a run that executed
        none (stopped before its first step, every proposal rejected) does not claim it."""
        if any(step.executed for step in self.graph.steps):
            return PROFILES
        return tuple(p for p in PROFILES if p[0] != PROVENANCE_PROFILE)

    def build(self) -> Any:
        g, crate = self.graph, self.crate
        run = g.run
        crate.metadata.extra_contexts.append(WFRUN_CONTEXT)
        crate.metadata.extra_terms["reprolam"] = NS
        crate.metadata.append_to("conformsTo", {"@id": WORKFLOW_RO_CRATE})
        root = crate.root_dataset
        root["name"] = f"reprolam run {run.id} of {run.workflow}"
        root["description"] = self.description()
        license_id, why = crate_license(g, self.license)
        root["license"] = self.add(
            license_url(license_id),
            {"@type": "CreativeWork", "name": license_id, "description": f"license {why}"},
        )
        for profile, name in (*self.profiles(), (WORKFLOW_RO_CRATE, "Workflow RO-Crate")):
            entity = self.add(profile, {"@type": "CreativeWork", "name": name})
            entity["version"] = profile.rsplit("/", 1)[1]
            root.append_to("conformsTo", entity)
        version = g.environment_summary.get(run.id, {}).get("reprolamVersion", "")
        self.engine = self.add(
            REPROLAM_URL,
            {
                "@type": "SoftwareApplication",
                "name": "reprolam",
                "url": REPROLAM_URL,
                "version": version or "unknown",
            },
        )
        self.build_action_space()
        workflow = self.build_workflow(version)
        self.files.add_artifacts(self.formal_for)
        run_action = self.build_run(run, workflow, primary=True)
        root.append_to("mentions", run_action)
        for ancestor in list(g.runs.values())[1:]:
            root.append_to("mentions", self.build_run(ancestor, workflow, primary=False))
        organized = []
        for step in g.steps:
            entity, control = self.build_step(step)
            root.append_to("mentions", entity)
            if control is not None:
                organized.append(control)
        self.add(
            f"#organize/{run.id}",
            {
                "@type": "OrganizeAction",
                "name": f"reprolam engine orchestrating run {run.id}",
                "description": "the engine validating, running and recording each step the "
                "planner proposed",
                "agent": {"@id": self.host_id(run)},
                "instrument": self.engine,
                "object": organized,
                "result": run_action,
                "startTime": crate_time(run.created_at),
                **({"endTime": crate_time(run.finished_at)} if run.finished_at else {}),
            },
        )
        self.files.add_trace()
        self.files.add_readme(self.description())
        single_values(crate)
        return crate

    def description(self) -> str:
        g, run = self.graph, self.graph.run
        text = (
            f"Provenance of reprolam run {run.id} (workflow {run.workflow}, seed {run.seed}, "
            f"{run.status.value}): every step of its trace, {len(g.steps)} in all, with the "
            "artifacts they used and produced, in reprolam's canonical encoding (verified by "
            "digest on import) and in open formats."
        )
        if run.verifies:
            text += f" A reproduction of run {run.verifies}: {g.verdict or 'verdict unknown'}."
        if g.fork is not None:
            changed = ", ".join(f"{a}.{p}={v!r}" for a, p, v in g.changed_params) or "none"
            text += f" A fork of run {g.fork.parent.id} at step {g.fork.index}; changed: {changed}."
        return text

    # -- prospective: the action space ----------------------------------------------------------

    def build_action_space(self) -> None:
        """One tool per action that ran (a tool no action used is not allowed to be listed)."""
        declared = self.graph.workflow_snapshot.get("actions", {})
        for step in self.graph.steps:
            r = step.record
            if not step.executed:
                continue
            spec = declared.get(r.action, {}) if isinstance(declared, dict) else {}
            determinism = str(spec.get("determinism", "")) if isinstance(spec, dict) else ""
            tool = self.tool(r.action, r.action_version, r.fingerprint, determinism)
            self.formal(tool, "input", r.inputs)
            self.formal(tool, "output", r.outputs)
            self.formal(tool, "param", r.params)

    def tool(self, name: str, version: str, fingerprint: str, determinism: str) -> Any:
        key = (name, fingerprint)
        if key in self.tools:
            return self.tools[key]
        tid = f"{ACTION_URN}{name}:{fingerprint[:12] or 'unknown'}"
        props: dict[str, Any] = {
            "@type": "SoftwareApplication",
            "name": name,
            "description": f"reprolam action {name} of workflow {self.graph.run.workflow}",
            "url": f"{REPROLAM_URL}actions/{name}",
            "version": version or "unknown",
            "reprolam:fingerprint": fingerprint,
        }
        if determinism:
            props["reprolam:determinism"] = determinism
        tool = self.tools[key] = self.add(tid, props)
        self.howtos[key] = self.add(
            f"#howto/{name}/{fingerprint[:12] or 'unknown'}",
            {"@type": "HowToStep", "name": f"use {name}", "workExample": tool},
        )
        return tool

    def formal(self, tool: Any, direction: str, values: dict[str, Any]) -> None:
        for name, value in values.items():
            fid = f"{tool.id}/{direction}/{name}"
            if fid in self.params:
                continue
            kind = "File" if direction != "param" else _PARAM_TYPES.get(type(value), "Text")
            entity = self.params[fid] = self.add(
                fid,
                {
                    "@type": "FormalParameter",
                    "name": name,
                    "additionalType": kind,
                    "conformsTo": {
                        "@id": "https://bioschemas.org/profiles/FormalParameter/1.0-RELEASE"
                    },
                    "description": f"{direction} {name} of action {tool['name']}",
                },
            )
            tool.append_to("input" if direction == "param" else direction, entity)

    def formal_for(self, digest: str) -> list[Any]:
        """The formal parameters an artifact was used or produced as (its ``exampleOfWork``)."""
        found: dict[str, Any] = {}
        for step in self.graph.steps:
            r = step.record
            if not step.executed or (r.action, r.fingerprint) not in self.tools:
                continue
            tool = self.tools[(r.action, r.fingerprint)]
            for direction, values in (("input", r.inputs), ("output", r.outputs)):
                for name, key in values.items():
                    fid = f"{tool.id}/{direction}/{name}"
                    if key == digest and fid in self.params:
                        found[fid] = self.params[fid]
        for name, key in self.graph.run.outputs.items():
            if key == digest:
                found[f"#param/output/{name}"] = {"@id": f"#param/output/{name}"}
        return list(found.values())

    def build_workflow(self, version: str) -> Any:
        from rocrate.model.computerlanguage import ComputerLanguage  # type: ignore[import-untyped]

        run = self.graph.run
        lang = self.crate.add(
            ComputerLanguage(
                self.crate,
                "#reprolam-action-space",
                properties={
                    "name": "reprolam action space",
                    "alternateName": "reprolam",
                    "url": REPROLAM_URL,
                    "identifier": {"@id": REPROLAM_URL},
                },
            )
        )
        lang["version"] = version or "unknown"
        order = self.graph.action_order()
        for key, howto in self.howtos.items():
            howto["position"] = order.index(key[0]) if key[0] in order else len(order)
        # A list, not a dict by name: a fork may run another version of an inherited action.
        actions = [
            {
                "name": tool["name"],
                "version": tool["version"],
                "fingerprint": tool["reprolam:fingerprint"],
                "determinism": tool.get("reprolam:determinism", ""),
                "inputs": _names(tool, "input", "File"),
                "outputs": _names(tool, "output", "File"),
                "params": [
                    p for p in _names(tool, "input", None) if p not in _names(tool, "input", "File")
                ],
            }
            for tool in self.tools.values()
        ]
        text = json.dumps(
            {"workflow": run.workflow, "order": order, "actions": actions}, indent=2, sort_keys=True
        )
        seed = self.add(
            "#param/seed",
            {
                "@type": "FormalParameter",
                "name": "seed",
                "additionalType": "Integer",
                "conformsTo": {
                    "@id": "https://bioschemas.org/profiles/FormalParameter/1.0-RELEASE"
                },
                "description": "the run's seed: every action's randomness derives from it",
            },
        )
        outputs = [
            self.add(
                f"#param/output/{name}",
                {
                    "@type": "FormalParameter",
                    "name": name,
                    "additionalType": "File",
                    "conformsTo": {
                        "@id": "https://bioschemas.org/profiles/FormalParameter/1.0-RELEASE"
                    },
                    "description": f"final output {name} of workflow {run.workflow}",
                },
            )
            for name in run.outputs
        ]
        return self.crate.add_workflow(
            io.BytesIO(text.encode()),
            "workflow.json",
            main=True,
            lang=lang,
            properties={
                "@type": ["File", "SoftwareSourceCode", "ComputationalWorkflow", "HowTo"],
                "conformsTo": {"@id": BIOSCHEMAS_WORKFLOW},
                "name": run.workflow,
                # The workflow has no version of its own: its actions' versions and code are it.
                "version": digest(text.encode())[:12],
                "description": f"the action space of workflow {run.workflow} as recorded by "
                "reprolam; a planner chose the order of steps at run time",
                "encodingFormat": "application/json",
                "hasPart": list(self.tools.values()),
                "step": sorted(self.howtos.values(), key=lambda h: h["position"]),
                "input": [seed],
                "output": outputs,
            },
        )

    # -- retrospective: runs, steps ---------------------------------------------------------------

    def host_id(self, run: RunRecord) -> str:
        host_id = f"#host/{run.host or 'unknown'}"
        if self.crate.get(host_id) is None:
            self.add(
                host_id,
                {
                    "@type": "Organization",
                    "name": f"host {run.host or 'unknown'}",
                    "description": "the machine whose reprolam engine executed the run",
                },
            )
        return host_id

    def build_run(self, run: RunRecord, workflow: Any, *, primary: bool) -> Any:
        g = self.graph
        seed = self.add(
            f"#pv/{run.id}/seed",
            {
                "@type": "PropertyValue",
                "name": "seed",
                "value": run.seed,
                "exampleOfWork": {"@id": "#param/seed"},
            },
        )
        produced = {e.digest for e in g.generated}
        external = sorted({e.digest for e in g.used} - produced) if primary else []
        results = [self.files.entity(d) for d in run.outputs.values()]
        props: dict[str, Any] = {
            "@type": "CreateAction",
            "name": f"run {run.id} of {run.workflow}",
            "description": self.run_description(run, primary),
            "agent": {"@id": self.host_id(run)},
            "instrument": workflow,
            "object": [seed, *(self.files.entity(d) for d in external)],
            "startTime": crate_time(run.created_at),
            "actionStatus": _run_status(run.status),
            "reprolam:seed": run.seed,
            "reprolam:status": run.status.value,
            "reprolam:policy": to_json(run.policy),
            "reprolam:host": run.host,
        }
        if results:
            props["result"] = results
        if run.finished_at is not None:
            props["endTime"] = crate_time(run.finished_at)
        if run.error:
            props["error"] = run.error
        if run.overrides:
            props["reprolam:overrides"] = to_json(run.overrides)
        if run.parent_id is not None and run.fork_index is not None:
            props["reprolam:forkOf"] = {"@id": f"#run/{run.parent_id}"}
            props["reprolam:forkIndex"] = run.fork_index
        if run.verifies:
            props["reprolam:verifies"] = run.verifies  # an id: the original is in trace.json
            if primary and g.verdict:
                props["reprolam:verdict"] = g.verdict
        planner = redact(run.planner)
        props["reprolam:planner"] = self.add(
            planner_id(run.id),
            {
                "@type": "SoftwareApplication",
                "name": f"planner {planner.get('name', '?')}",
                "url": f"{REPROLAM_URL}planners/{planner.get('name', 'unknown')}",
                "version": str(planner.get("model") or planner.get("version") or "unknown"),
                "reprolam:config": to_json(planner),
            },
        )
        env = g.environments.get(run.id)
        if env is not None and env.stored:
            props["reprolam:environment"] = self.files.environment(run, env)
        return self.add(f"#run/{run.id}", props)

    def run_description(self, run: RunRecord, primary: bool) -> str:
        text = f"run {run.id} of workflow {run.workflow}, seed {run.seed}: {run.status.value}"
        if run.verifies:
            verdict = self.graph.verdict if primary else None
            text += f"; a reproduction of run {run.verifies}: {verdict or 'verdict unknown'}"
        if run.parent_id is not None and run.fork_index is not None:
            changed = ", ".join(
                f"{a}.{p}={v!r}" for a, params in run.overrides.items() for p, v in params.items()
            )
            text += f"; a fork of run {run.parent_id} at step {run.fork_index}"
            text += f", changed {changed}" if changed else ""
        if not primary:
            text += "; a fork ancestor: only the steps this run inherits are described"
        return text

    def build_step(self, step: StepNode) -> tuple[Any, Any | None]:
        """The step's entity and, for an executed step, its ``ControlAction``."""
        r = step.record
        run = self.graph.runs[r.run_id]
        base: dict[str, Any] = {
            "name": step.title,
            "description": self.step_description(step),
            "agent": {"@id": self.host_id(run)},
            "startTime": crate_time(r.started_at),
            "reprolam:index": r.index,
            "reprolam:run": {"@id": f"#run/{r.run_id}"},
            "reprolam:status": r.status.value,
            "reprolam:proposal": to_json(r.proposal),
        }
        if step.ended_at is not None:
            base["endTime"] = crate_time(step.ended_at)
        if step.inherited:
            base["reprolam:inherited"] = True
        if r.hash:
            base["reprolam:hash"] = r.hash
        if r.prev_hash:
            base["reprolam:prevHash"] = r.prev_hash
        if r.recovers is not None:
            base["reprolam:recovers"] = {"@id": self.step_id(r.run_id, r.recovers)}
        status, error = self.status(step)
        base["actionStatus"] = status
        if error:
            base["error"] = error
        if not step.executed:
            return self.choice(step, base), None
        tool_key = (r.action, r.fingerprint)
        changed = self.graph.changed_in(step)
        pvs = []
        for name, value in sorted(r.params.items()):
            pv: dict[str, Any] = {
                "@type": "PropertyValue",
                "name": name,
                "value": _value(value),
                "exampleOfWork": self.params[f"{self.tools[tool_key].id}/param/{name}"],
            }
            if name in changed:
                pv["description"] = "changed by the fork (override)"
                pv["reprolam:changedByFork"] = True
            pvs.append(self.add(f"#pv/{r.run_id}/{r.index}/{name}", pv))
        props: dict[str, Any] = {
            "@type": "CreateAction",
            **base,
            "instrument": self.tools[tool_key],
            "object": [*(self.files.entity(d) for d in r.inputs.values()), *pvs],
            "reprolam:actionVersion": r.action_version,
            "reprolam:fingerprint": r.fingerprint,
            **({"reprolam:seed": r.seed} if r.seed is not None else {}),
        }
        if r.outputs:  # a failed step produced nothing: no empty result
            props["result"] = [self.files.entity(d) for d in r.outputs.values()]
        step_action = self.add(self.step_id(r.run_id, r.index), props)
        control = self.add(
            f"#control/{r.run_id}/{r.index}",
            {
                "@type": "ControlAction",
                "name": f"orchestrate {r.action} (step {r.index})",
                "instrument": self.howtos[tool_key],
                "object": step_action,
                "actionStatus": status,
            },
        )
        return step_action, control

    def step_description(self, step: StepNode) -> str:
        r = step.record
        params = ", ".join(f"{k}={_compact(v)}" for k, v in sorted(r.params.items())) or "none"
        what = {
            StepKind.ACTION: f"step {r.index}: action {r.action}",
            StepKind.REJECTION: f"step {r.index}: proposal of {r.action or '?'} rejected",
            StepKind.DECISION: f"step {r.index}: planner consultation without a proposal",
        }[r.kind]
        text = f"{what} ({r.status.value}), params: {params}"
        if r.error is not None:
            text += f"; {r.error.type}: {r.error.message}"
        if r.recovers is not None:
            text += f"; recovers step {r.recovers}"
        return text

    def choice(self, step: StepNode, base: dict[str, Any]) -> Any:
        r = step.record
        props: dict[str, Any] = {
            "@type": "ChooseAction",
            **base,
            "agent": {"@id": planner_id(r.run_id)},
            "instrument": {"@id": planner_id(r.run_id)},
            "reprolam:kind": r.kind.value,
        }
        if r.kind is StepKind.REJECTION:
            props["reprolam:proposedAction"] = r.action
            props["reprolam:params"] = to_json(r.params)
            known = [t for (name, _), t in self.tools.items() if name == r.action]
            if known:
                props["actionOption"] = known[0]
        return self.add(self.step_id(r.run_id, r.index), props)

    def status(self, step: StepNode) -> tuple[str, str]:
        r = step.record
        if r.status is StepStatus.SUCCEEDED:
            return COMPLETED, ""
        if r.error is not None:
            return FAILED, f"{r.error.type}: {r.error.message}"
        if self.graph.run.status is RunStatus.RUNNING:
            return ACTIVE, ""
        return FAILED, "no completion recorded: the run stopped while this step ran"

    @staticmethod
    def step_id(run_id: str, index: int) -> str:
        return f"#step/{run_id}/{index}"


def _run_status(status: RunStatus) -> str:
    if status is RunStatus.SUCCEEDED:
        return COMPLETED
    return ACTIVE if status is RunStatus.RUNNING else FAILED


def _names(tool: Any, prop: str, kind: str | None) -> list[str]:
    """Names of a tool's formal parameters under ``prop`` (of one additionalType, or all)."""
    found: Iterable[Any] = tool.get(prop) or []
    return [p["name"] for p in found if kind is None or p.get("additionalType") == kind]


def _value(value: Any) -> Any:
    return value if isinstance(value, bool | int | float | str) else to_json(value)


def _compact(value: Any) -> str:
    return value if isinstance(value, str) else to_json(value)
