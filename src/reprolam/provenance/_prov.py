"""W3C PROV (PROV-JSON, PROV-N, PROV-XML) of a run, built with the ``prov`` package.

The mapping (also in README, "Provenance export"):

* runs and steps are activities; a step is ``wasStartedBy`` the run that executed it (for an
  inherited step, the fork ancestor), typed ``reprolam:ActionStep``,
  ``reprolam:RejectedProposal`` or ``reprolam:PlannerDecision``;
* identifiers are ``urn:reprolam:<kind>-<id>`` (prefix ``id:``), valid ``xs:QName``s;
* an artifact's content is an entity named by digest (``id:artifact-<blake3>``); each
  generation of it is an entity of its own (``id:output-<run>.<index>.<name>``,
  ``specializationOf`` the content), so every entity has one generation as
  PROV-CONSTRAINTS require; ``used`` / ``wasGeneratedBy`` carry the input/output name as
  ``prov:role``; a step's outputs ``wasDerivedFrom`` the generations it used;
* a reproduction carries ``reprolam:verdict`` (identical | within-tolerance | diverged), a
  fork ``reprolam:overrides`` and each step it changed ``reprolam:changedParams``;
* strings are XML-safe in every format: C0 control characters become their Unicode
  control pictures (ESC -> U+241B);
* the planner is a ``prov:SoftwareAgent``, the host a ``prov:Agent``; an executed step is
  associated with the host under the action as ``prov:Plan`` (name, version, fingerprint);
* ``wasInformedBy`` links each step to the one before it (``reprolam:NextStep``, the hash
  chain) and to the steps whose outputs it used (``reprolam:DataDependency``);
* a fork is ``prov:wasInfluencedBy`` its parent run (``reprolam:Fork`` with
  ``reprolam:forkIndex``) - not ``wasDerivedFrom``, which PROV defines between entities
  only - and by each inherited step (``reprolam:InheritedStep``); a recovery step
  ``wasInfluencedBy`` the failed step (``reprolam:Recovery``), and a step that reused a
  recorded step's outputs (``--reuse``) the step it took them from (``reprolam:Reuse``,
  ``reprolam:reusedFrom`` on the step).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from reprolam.provenance._model import _NOT_XML, RunGraph, StepNode, redact, to_json, utc, xml_safe
from reprolam.trace.records import RunRecord, StepKind, StepRecord

if TYPE_CHECKING:
    from prov.identifier import Namespace, QualifiedName
    from prov.model import ProvDocument

NS = "https://reprolam.dev/ns#"
# Instance identifiers are URNs: they name things recorded in some store, not web pages.
# One namespace, and local parts that start with their kind (``run-``, ``step-``, ...): an
# xs:QName's local part must be an NCName, which cannot start with a digit, as run ids and
# digests do. URN of a run: ``urn:reprolam:run-<id>``; of an artifact's content:
# ``urn:reprolam:artifact-<blake3>``; of one generation of it: ``urn:reprolam:output-<run>.
# <index>.<name>``.
ID_PREFIX = "id"
ID_NAMESPACE = "urn:reprolam:"
STEP_TYPES = {
    StepKind.ACTION: "ActionStep",
    StepKind.REJECTION: "RejectedProposal",
    StepKind.DECISION: "PlannerDecision",
}
PROV_FORMATS = {"prov-json": "json", "prov-n": "provn", "prov-xml": "xml"}
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def reused_from(step: StepRecord) -> str | None:
    """``<run>.<index>`` of the step whose recorded outputs ``step`` reused, if it did."""
    counterpart = step.proposal.get("cache", {}).get("counterpart") if step.reused else None
    if not (isinstance(counterpart, list) and len(counterpart) == 2):
        return None
    run_id, index = counterpart
    return f"{run_id}.{index}" if isinstance(run_id, str) and type(index) is int else None


def _ncname(text: str) -> str:
    """A fragment of an NCName: letters, digits, ``_``, ``-`` and ``.`` only."""
    return _UNSAFE.sub("_", text)


def serialize(doc: ProvDocument, fmt: str) -> str:
    """``doc`` in one of ``PROV_FORMATS``, by prov's own serializers."""
    kind = PROV_FORMATS[fmt]
    if kind == "provn":
        return doc.get_provn() + "\n"
    text = doc.serialize(format=kind, indent=2) if kind == "json" else doc.serialize(format=kind)
    assert isinstance(text, str)
    return text if text.endswith("\n") else text + "\n"


def prov_document(graph: RunGraph) -> ProvDocument:
    """The PROV document of ``graph``'s run (its whole trace, fork ancestors referenced)."""
    return _Builder(graph).build()


class _Builder:
    def __init__(self, graph: RunGraph) -> None:
        from prov.constants import PROV
        from prov.model import ProvDocument

        self.graph = graph
        self.PROV = PROV
        self.doc = ProvDocument()
        self.r = self.doc.add_namespace("reprolam", NS)
        self.ids: Namespace = self.doc.add_namespace(ID_PREFIX, ID_NAMESPACE)

    # -- identifiers ----------------------------------------------------------------------------

    def run_id(self, run_id: str) -> QualifiedName:
        return self.ids[f"run-{_ncname(run_id)}"]

    def step_id(self, step: StepNode) -> QualifiedName:
        return self.ids[f"step-{_ncname(step.key)}"]

    def artifact_id(self, digest: str) -> QualifiedName:
        """The artifact's content, whoever made it (the entity an external input is)."""
        return self.ids[f"artifact-{digest}"]

    def output_id(self, step: StepNode, name: str) -> QualifiedName:
        """One generation of an artifact: PROV-CONSTRAINTS allow an entity one generation,
        and the same bytes can be produced by several steps."""
        return self.ids[f"output-{_ncname(step.key)}.{_ncname(name)}"]

    def planner_id(self, run_id: str) -> QualifiedName:
        return self.ids[f"planner-{_ncname(run_id)}"]

    def host_id(self, run: RunRecord) -> QualifiedName:
        return self.ids[f"host-{_ncname(run.host or 'unknown')}"]

    def action_id(self, step: StepNode) -> QualifiedName:
        r = step.record
        local = f"{r.action}.{r.action_version or '_'}.{(r.fingerprint or '_')[:16]}"
        return self.ids[f"action-{_ncname(local)}"]

    def type_(self, name: str) -> tuple[Any, Any]:
        return (self.PROV["type"], self.r[name])

    # -- document -------------------------------------------------------------------------------

    def build(self) -> ProvDocument:
        g = self.graph
        for run in g.runs.values():
            self.add_run(run)
        for key, artifact in g.artifacts.items():
            self.add_artifact(key, [self.type_("Artifact")], artifact.label, artifact)
        for step in g.steps:
            self.add_step(step)
        self.add_edges()
        self.make_xml_safe()
        return self.doc

    def make_xml_safe(self) -> None:
        """Replace what XML cannot carry in every string value, in every format alike."""
        for record in self.doc.get_records():
            for values in record._attributes.values():  # prov offers no public setter
                for value in [v for v in values if isinstance(v, str) and _NOT_XML.search(v)]:
                    values.discard(value)
                    values.add(xml_safe(value))

    def add_run(self, run: RunRecord) -> None:
        g, r = self.graph, self.r
        attrs: list[tuple[Any, Any]] = [
            self.type_("Run"),
            (self.PROV["label"], f"run {run.id} of {run.workflow}"),
            (r["workflow"], run.workflow),
            (r["seed"], run.seed),
            (r["status"], run.status.value),
            (r["policy"], to_json(run.policy)),
            (r["outputs"], to_json(run.outputs)),
            (r["host"], run.host),
            (r["pid"], run.pid),
        ]
        if run.overrides:
            attrs.append((r["overrides"], to_json(run.overrides)))
        if run.error:
            attrs.append((r["error"], run.error))
        if run.parent_id is not None and run.fork_index is not None:
            attrs += [(r["parentRun"], run.parent_id), (r["forkIndex"], run.fork_index)]
        if run.verifies:  # a reproduction: the run it re-executes to verify
            attrs.append((r["verifies"], run.verifies))
            if run.id == g.run.id and g.verdict:
                attrs.append((r["verdict"], g.verdict))
        end = utc(run.finished_at) if run.finished_at is not None else None
        activity = self.doc.activity(self.run_id(run.id), utc(run.created_at), end, attrs)

        planner = redact(run.planner)
        planner_attrs: list[tuple[Any, Any]] = [
            (self.PROV["type"], self.PROV["SoftwareAgent"]),
            self.type_("Planner"),
            (self.PROV["label"], f"planner {planner.get('name', '?')} of run {run.id}"),
            (r["planner"], str(planner.get("name", ""))),
            (r["config"], to_json(planner)),
        ]
        if planner.get("name") == "llm" or "model" in planner:
            planner_attrs.append(self.type_("LLMPlanner"))
        if "model" in planner:
            planner_attrs.append((r["model"], str(planner["model"])))
        self.doc.agent(self.planner_id(run.id), planner_attrs)
        host = self.host_id(run)
        if not self.doc.get_record(host):  # runs on one host share its agent
            attrs = [self.type_("Host"), (self.PROV["label"], run.host or "unknown host")]
            self.doc.agent(host, attrs)
        role = self.PROV["role"]
        self.doc.wasAssociatedWith(activity, host, other_attributes={role: r["executor"]})
        self.doc.wasAssociatedWith(
            activity, self.planner_id(run.id), other_attributes={role: r["planner"]}
        )
        env = g.environments.get(run.id)
        if env is not None:
            extra = [(r[k], v) for k, v in sorted(g.environment_summary.get(run.id, {}).items())]
            self.add_artifact(
                env.digest,
                [self.type_("Artifact"), self.type_("Environment"), *extra],
                f"environment of run {run.id}",
                env,
            )
            self.doc.used(
                activity,
                self.artifact_id(env.digest),
                utc(run.created_at),
                other_attributes={role: r["environment"]},
            )

    def add_artifact(self, key: str, attrs: list[tuple[Any, Any]], label: str, art: Any) -> None:
        if self.doc.get_record(self.artifact_id(key)):
            return  # an environment that is also a step artifact: one entity per digest
        r = self.r
        attrs = [*attrs, (self.PROV["label"], label), (r["digest"], key)]
        if art.stored:
            attrs += [(r["codec"], art.codec), (r["size"], art.size)]
        else:
            attrs.append((r["stored"], False))
        self.doc.entity(self.artifact_id(key), attrs)

    def add_step(self, step: StepNode) -> None:
        rec, r = step.record, self.r
        attrs: list[tuple[Any, Any]] = [
            self.type_(STEP_TYPES[rec.kind]),
            (self.PROV["label"], step.title),
            (r["run"], rec.run_id),
            (r["index"], rec.index),
            (r["status"], rec.status.value),
            (r["params"], to_json(rec.params)),
            (r["proposal"], to_json(rec.proposal)),
        ]
        if rec.action:
            attrs.append((r["action"], rec.action))
        optional: dict[str, Any] = {
            "actionVersion": rec.action_version,
            "fingerprint": rec.fingerprint,
            "seed": rec.seed,
            "duration": rec.duration,
            "hash": rec.hash,
            "prevHash": rec.prev_hash,
            "rationale": rec.proposal.get("rationale"),
            "recovers": rec.recovers,
        }
        if rec.error is not None:
            optional |= {
                "errorType": rec.error.type,
                "errorMessage": rec.error.message,
                "errorTraceback": rec.error.traceback,
            }
        attrs += [(r[k], v) for k, v in optional.items() if v not in (None, "")]
        if rec.recovers is not None:
            attrs.append(self.type_("Recovery"))
        source = reused_from(rec)
        if source is not None:
            attrs.append((r["reusedFrom"], source))
        changed = self.graph.changed_in(step)
        if changed:
            attrs.append((r["changedParams"], ", ".join(sorted(changed))))
        end = step.ended_at
        activity = self.doc.activity(
            self.step_id(step), utc(rec.started_at), utc(end) if end is not None else None, attrs
        )
        run = self.graph.runs[rec.run_id]
        role = self.PROV["role"]
        self.doc.wasStartedBy(activity, starter=self.run_id(run.id), time=utc(rec.started_at))
        self.doc.wasAssociatedWith(
            activity, self.planner_id(run.id), other_attributes={role: r["proposer"]}
        )
        if step.executed:
            plan = self.doc.get_record(self.action_id(step))
            if not plan:
                self.doc.entity(
                    self.action_id(step),
                    [
                        (self.PROV["type"], self.PROV["Plan"]),
                        self.type_("Action"),
                        (self.PROV["label"], f"action {rec.action} v{rec.action_version}"),
                        (r["action"], rec.action),
                        (r["actionVersion"], rec.action_version),
                        (r["fingerprint"], rec.fingerprint),
                    ],
                )
            self.doc.wasAssociatedWith(
                activity,
                self.host_id(run),
                plan=self.action_id(step),
                other_attributes={role: r["executor"]},
            )

    def add_data_flow(self) -> None:
        """used / wasGeneratedBy / wasDerivedFrom, one entity per generation.

        An output is its own entity (``output-<step>.<name>``), a ``specializationOf`` the
        content entity (``artifact-<digest>``), so bytes produced twice are two generations
        of one content. A step uses the generation it read: the latest step before it that
        produced those bytes, else (an external input) the content entity itself.
        """
        g, r, doc = self.graph, self.r, self.doc
        role = self.PROV["role"]
        latest: dict[str, QualifiedName] = {}  # digest -> its latest generation so far
        for step in g.steps:
            rec = step.record
            when = utc(rec.started_at)
            used: list[QualifiedName] = []
            for name, key in rec.inputs.items():
                entity = latest.get(key, self.artifact_id(key))
                used.append(entity)
                doc.used(self.step_id(step), entity, when, other_attributes={role: name})
            end = utc(step.ended_at) if step.ended_at is not None else None
            for name, key in rec.outputs.items():
                output = self.output_id(step, name)
                art = g.artifacts[key]
                doc.entity(
                    output,
                    [
                        self.type_("Artifact"),
                        self.type_("Output"),
                        (self.PROV["label"], f"{name} of step {rec.index} ({art.short})"),
                        (r["digest"], key),
                        (r["outputName"], name),
                    ],
                )
                doc.specializationOf(output, self.artifact_id(key))
                doc.wasGeneratedBy(output, self.step_id(step), end, other_attributes={role: name})
                for source in dict.fromkeys(used):
                    doc.wasDerivedFrom(output, source, self.step_id(step))
                latest[key] = output

    def add_edges(self) -> None:
        g, r, doc = self.graph, self.r, self.doc
        self.add_data_flow()
        for before, after in zip(g.steps, g.steps[1:], strict=False):
            doc.wasInformedBy(
                self.step_id(after),
                self.step_id(before),
                other_attributes=[self.type_("NextStep")],
            )
        for dep in g.dependencies:
            doc.wasInformedBy(
                self.step_id(g.step(dep.consumer)),
                self.step_id(g.step(dep.producer)),
                other_attributes=[
                    self.type_("DataDependency"),
                    (r["artifacts"], ", ".join(dep.names)),
                ],
            )
        for recovering, failed in g.recoveries:
            doc.wasInfluencedBy(
                self.step_id(g.step(recovering)),
                self.step_id(g.step(failed)),
                other_attributes=[self.type_("Recovery")],
            )
        if g.run.verifies:
            doc.wasInfluencedBy(
                self.run_id(g.run.id),
                self.run_id(g.run.verifies),
                other_attributes=[self.type_("Reproduction")],
            )
        for fork in g.forks:
            doc.wasInfluencedBy(
                self.run_id(fork.child.id),
                self.run_id(fork.parent.id),
                other_attributes=[self.type_("Fork"), (r["forkIndex"], fork.index)],
            )
        for step in g.steps:
            source = reused_from(step.record)
            if source is not None:  # its outputs were that step's: it executed nothing
                doc.wasInfluencedBy(
                    self.step_id(step),
                    self.ids[f"step-{_ncname(source)}"],
                    other_attributes=[self.type_("Reuse")],
                )
        for step in g.steps:
            if step.inherited:
                doc.wasInfluencedBy(
                    self.run_id(g.run.id),
                    self.step_id(step),
                    other_attributes=[self.type_("InheritedStep")],
                )
