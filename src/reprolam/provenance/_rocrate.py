"""A Workflow Run RO-Crate (Provenance Run Crate profile 0.6, RO-Crate 1.3) of a run.

Profile fit: the workflow (main entity) is the run's *action space* as recorded in its
environment snapshot - one ``SoftwareApplication`` tool and one ``HowToStep`` per action - not
a fixed sequence, because the planner chooses the order at run time. Each executed step is a
``CreateAction`` (tool run) with a ``ControlAction`` pointing at the action's ``HowToStep``;
the engine's ``OrganizeAction`` lists them and results in the run's ``CreateAction``. Rejected
proposals and failed planner consultations are never executed, so they are ``ChooseAction``s
by the planner (``FailedActionStatus`` + ``error``), listed with the ``ControlAction``s.
reprolam-specific facts use the ``reprolam:`` terms documented in README.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from reprolam.provenance._model import (
    ArtifactNode,
    RunGraph,
    StepNode,
    artifact_node,
    iso,
    redact,
    to_json,
)
from reprolam.provenance._output import write_atomically
from reprolam.provenance._prov import NS
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import RunRecord, RunStatus, StepKind, StepStatus

WFRUN_CONTEXT = "https://w3id.org/ro/terms/workflow-run/context"
PROFILES = (
    ("https://w3id.org/ro/wfrun/process/0.6", "Process Run Crate"),
    ("https://w3id.org/ro/wfrun/workflow/0.6", "Workflow Run Crate"),
    ("https://w3id.org/ro/wfrun/provenance/0.6", "Provenance Run Crate"),
)
COMPLETED = "http://schema.org/CompletedActionStatus"
FAILED = "http://schema.org/FailedActionStatus"
ACTIVE = "http://schema.org/ActiveActionStatus"
_PARAM_TYPES = {bool: "Boolean", int: "Integer", float: "Float", str: "Text"}


def write_crate(store: TraceStore, graph: RunGraph, output: Path, *, max_file_bytes: int) -> Path:
    """Write the crate to ``output``: a directory, or a zip file if it ends in ``.zip``."""
    as_zip = output.suffix.lower() == ".zip"

    def write(tmp: Path) -> None:
        crate = _Builder(store, graph, max_file_bytes).build()  # fresh: file sources are streams
        if as_zip:
            crate.write_zip(tmp)
        else:
            crate.write(tmp)

    return write_atomically(output, write, directory=not as_zip)


class _Builder:
    def __init__(self, store: TraceStore, graph: RunGraph, max_file_bytes: int) -> None:
        from rocrate.model.contextentity import ContextEntity  # type: ignore[import-untyped]
        from rocrate.rocrate import ROCrate  # type: ignore[import-untyped]

        self.store = store
        self.graph = graph
        self.max_file_bytes = max_file_bytes
        self.crate = ROCrate(gen_preview=True)
        self.ContextEntity = ContextEntity
        self.artifacts: dict[str, Any] = {}  # digest -> entity
        self.tools: dict[tuple[str, str], Any] = {}  # (action, fingerprint) -> tool entity
        self.howtos: dict[tuple[str, str], Any] = {}
        self.params: dict[str, Any] = {}  # formal parameter id -> entity

    def add(self, id_: str, props: dict[str, Any]) -> Any:
        return self.crate.add(self.ContextEntity(self.crate, id_, properties=props))

    def build(self) -> Any:
        g, crate = self.graph, self.crate
        run = g.run
        crate.metadata.extra_contexts.append(WFRUN_CONTEXT)
        crate.metadata.extra_terms["reprolam"] = NS
        root = crate.root_dataset
        root["name"] = f"reprolam run {run.id} of {run.workflow}"
        root["description"] = (
            f"Provenance of reprolam run {run.id} (workflow {run.workflow}, seed {run.seed}, "
            f"{run.status.value}): every step of its trace, {len(g.steps)} in all, "
            "with the artifacts they used and produced."
        )
        for profile, name in PROFILES:
            entity = self.add(profile, {"@type": ["CreativeWork", "Profile"], "name": name})
            entity["version"] = "0.6"
            root.append_to("conformsTo", entity)
        version = g.environment_summary.get(run.id, {}).get("reprolamVersion", "")
        engine = self.add(
            "#reprolam",
            {"@type": "SoftwareApplication", "name": f"reprolam {version}".strip()},
        )
        if version:
            engine["softwareVersion"] = version
        self.build_action_space()
        workflow = self.build_workflow(version)
        for digest, artifact in g.artifacts.items():
            self.artifacts[digest] = self.artifact_entity(artifact)
        run_action = self.build_run(run, workflow, primary=True)
        for ancestor in list(g.runs.values())[1:]:
            self.build_run(ancestor, workflow, primary=False)
        organized = [self.build_step(step) for step in g.steps]
        self.add(
            f"#organize/{run.id}",
            {
                "@type": "OrganizeAction",
                "name": f"reprolam engine orchestrating run {run.id}",
                "instrument": engine,
                "object": organized,
                "result": run_action,
                "startTime": iso(run.created_at),
                **({"endTime": iso(run.finished_at)} if run.finished_at else {}),
            },
        )
        root.append_to("mentions", run_action)
        return crate

    # -- prospective: the action space ----------------------------------------------------------

    def build_action_space(self) -> None:
        env = self.snapshot(self.graph.run)
        recorded = env.get("workflow", {}).get("actions", {}) if isinstance(env, dict) else {}
        for name, spec in recorded.items():
            if isinstance(spec, dict):
                self.tool(
                    name,
                    str(spec.get("version", "")),
                    str(spec.get("fingerprint", "")),
                    determinism=str(spec.get("determinism", "")),
                )
        for step in self.graph.steps:  # actions of inherited steps may be other versions
            r = step.record
            if step.executed:
                tool = self.tool(r.action, r.action_version, r.fingerprint)
                self.formal(tool, "input", r.inputs)
                self.formal(tool, "output", r.outputs)
                self.formal(tool, "param", r.params)

    def tool(self, name: str, version: str, fingerprint: str, *, determinism: str = "") -> Any:
        key = (name, fingerprint)
        if key in self.tools:
            return self.tools[key]
        tid = f"#action/{name}/{fingerprint[:12] or 'unknown'}"
        props: dict[str, Any] = {
            "@type": "SoftwareApplication",
            "name": name,
            "softwareVersion": version,
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
                fid, {"@type": "FormalParameter", "name": name, "additionalType": kind}
            )
            tool.append_to("input" if direction == "param" else direction, entity)

    def build_workflow(self, version: str) -> Any:
        from rocrate.model.computerlanguage import ComputerLanguage  # type: ignore[import-untyped]

        run = self.graph.run
        lang = self.crate.add(
            ComputerLanguage(
                self.crate,
                "#reprolam-action-space",
                properties={"name": "reprolam action space", "alternateName": "reprolam"},
            )
        )
        if version:
            lang["version"] = version
        # A list, not a dict by name: a fork may run another version of an inherited action.
        actions = [
            {
                "name": tool["name"],
                "version": tool["softwareVersion"],
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
        text = json.dumps({"workflow": run.workflow, "actions": actions}, indent=2, sort_keys=True)
        for position, howto in enumerate(self.howtos.values()):
            howto["position"] = str(position)
        seed = self.add(
            "#param/seed",
            {"@type": "FormalParameter", "name": "seed", "additionalType": "Integer"},
        )
        outputs = [
            self.add(
                f"#param/output/{name}",
                {"@type": "FormalParameter", "name": name, "additionalType": "File"},
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
                "name": run.workflow,
                "description": f"the action space of workflow {run.workflow} as recorded by "
                "reprolam; a planner chose the order of steps at run time",
                "encodingFormat": "application/json",
                "hasPart": list(self.tools.values()),
                "step": list(self.howtos.values()),
                "input": [seed],
                "output": outputs,
            },
        )

    # -- retrospective: runs, steps, artifacts --------------------------------------------------

    def snapshot(self, run: RunRecord) -> Any:
        env = self.graph.environments.get(run.id)
        if env is None or not env.stored:
            return {}
        return json.loads(self.store.get_artifact(env.digest)[1])

    def artifact_entity(self, art: ArtifactNode) -> Any:
        props: dict[str, Any] = {
            "name": art.label,
            "reprolam:digest": art.digest,
            "reprolam:codec": art.codec,
        }
        if art.size is not None:
            props["contentSize"] = str(art.size)
        if art.stored and art.size is not None and art.size <= self.max_file_bytes:
            _, data = self.store.get_artifact(art.digest)  # verified against its digest
            return self.crate.add_file(
                io.BytesIO(data),
                f"artifacts/{art.digest}{art.extension}",
                properties={"@type": "File", "encodingFormat": art.media_type, **props},
            )
        why = (
            f"not included: {art.size} bytes is over the {self.max_file_bytes}-byte limit"
            if art.stored
            else "not included: the store did not hold it at export time"
        )
        return self.add(
            f"#artifact/{art.digest}",
            {"@type": "File", "description": f"{why}; fetch it by digest from the store", **props},
        )

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
        props: dict[str, Any] = {
            "@type": "CreateAction",
            "name": f"run {run.id} of {run.workflow}",
            "instrument": workflow,
            "object": [seed, *(self.artifacts[d] for d in external)],
            "result": [self.result(d) for d in run.outputs.values()],
            "startTime": iso(run.created_at),
            "actionStatus": _run_status(run.status),
            "reprolam:seed": run.seed,
            "reprolam:status": run.status.value,
            "reprolam:policy": to_json(run.policy),
            "reprolam:host": run.host,
        }
        if run.finished_at is not None:
            props["endTime"] = iso(run.finished_at)
        if run.error:
            props["error"] = run.error
        if run.overrides:
            props["reprolam:overrides"] = to_json(run.overrides)
        if run.parent_id is not None and run.fork_index is not None:
            props["reprolam:forkOf"] = {"@id": f"#run/{run.parent_id}"}
            props["reprolam:forkIndex"] = run.fork_index
        if run.verifies:
            props["reprolam:verifies"] = run.verifies  # an id: the verified run is not in the crate
        if not primary:
            props["description"] = "a fork ancestor; only the steps this run inherits are listed"
        planner = redact(run.planner)
        props["reprolam:planner"] = self.add(
            f"#planner/{run.id}",
            {
                "@type": "SoftwareApplication",
                "name": f"planner {planner.get('name', '?')}",
                "reprolam:config": to_json(planner),
            },
        )
        env = g.environments.get(run.id)
        if env is not None and env.stored:
            props["reprolam:environment"] = self.environment(run, env)
        return self.add(f"#run/{run.id}", props)

    def result(self, digest: str) -> Any:
        if digest not in self.artifacts:  # a fork ancestor's own final output
            self.artifacts[digest] = self.artifact_entity(artifact_node(self.store, digest, ()))
        return self.artifacts[digest]

    def environment(self, run: RunRecord, env: ArtifactNode) -> Any:
        name = "environment.json" if run.id == self.graph.run.id else f"environment-{run.id}.json"
        existing = self.crate.get(name)
        if existing is not None:
            return existing
        _, data = self.store.get_artifact(env.digest)
        return self.crate.add_file(
            io.BytesIO(data),
            name,
            properties={
                "@type": "File",
                "name": f"environment snapshot of run {run.id}",
                "encodingFormat": "application/json",
                "contentSize": str(len(data)),
                "reprolam:digest": env.digest,
                "about": {"@id": f"#run/{run.id}"},
            },
        )

    def build_step(self, step: StepNode) -> Any:
        r = step.record
        base: dict[str, Any] = {
            "name": step.title,
            "startTime": iso(r.started_at),
            "reprolam:index": r.index,
            "reprolam:run": {"@id": f"#run/{r.run_id}"},
            "reprolam:status": r.status.value,
            "reprolam:proposal": to_json(r.proposal),
        }
        if step.ended_at is not None:
            base["endTime"] = iso(step.ended_at)
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
            return self.choice(step, base)
        tool_key = (r.action, r.fingerprint)
        pvs = [
            self.add(
                f"#pv/{r.run_id}/{r.index}/{name}",
                {
                    "@type": "PropertyValue",
                    "name": name,
                    "value": _value(value),
                    "exampleOfWork": self.params[f"{self.tools[tool_key].id}/param/{name}"],
                },
            )
            for name, value in sorted(r.params.items())
        ]
        step_action = self.add(
            self.step_id(r.run_id, r.index),
            {
                "@type": "CreateAction",
                **base,
                "instrument": self.tools[tool_key],
                "object": [*(self.artifacts[d] for d in r.inputs.values()), *pvs],
                "result": [self.artifacts[d] for d in r.outputs.values()],
                "reprolam:actionVersion": r.action_version,
                "reprolam:fingerprint": r.fingerprint,
                **({"reprolam:seed": r.seed} if r.seed is not None else {}),
            },
        )
        return self.add(
            f"#control/{r.run_id}/{r.index}",
            {
                "@type": "ControlAction",
                "name": f"orchestrate {r.action} (step {r.index})",
                "instrument": self.howtos[tool_key],
                "object": step_action,
            },
        )

    def choice(self, step: StepNode, base: dict[str, Any]) -> Any:
        r = step.record
        props: dict[str, Any] = {
            "@type": "ChooseAction",
            **base,
            "instrument": {"@id": f"#planner/{r.run_id}"},
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
