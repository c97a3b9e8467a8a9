"""One neutral view of a run's trace that every exporter shares: steps, artifacts, edges.

Built from the store alone, never by importing the workflow's code: exporting a store someone
sent you must not run their code, and an export describes what was recorded, not what the
workflow looks like today. Exporters (PROV, RO-Crate, pictures) only translate this view.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reprolam.errors import NotFoundError
from reprolam.hashing import digest as hash_bytes
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import RunRecord, StepKind, StepRecord, StepStatus

# Step categories, most specific first: a picture colours a step by the first that applies.
MAX_VALUE_TEXT = 80  # characters of a changed param's value in a picture's headline
CATEGORIES = ("rejected", "decision", "failed", "started", "recovery", "succeeded")

# Codec tag -> (file extension, media type). The container codecs (frame, model, tree) are
# reprolam's own formats: readable with reprolam's codecs, opaque bytes to anything else.
CODEC_FILES: dict[str, tuple[str, str]] = {
    "json": (".json", "application/json"),
    "npy": (".npy", "application/x-npy"),
    "frame": (".frame", "application/octet-stream"),
    "model": (".model", "application/octet-stream"),
    "tree": (".tree", "application/octet-stream"),
    "pickle": (".pkl", "application/x-python-pickle"),
}

# "token" as a word's end (a tokenizer, stop_tokens or a count of tokens is not a secret).
_SECRET_KEY = re.compile(
    r"(api[_-]?key|token(?![a-z])|secret|password|passwd|authorization|credential)", re.I
)
# Keys that name where a secret comes from (``api_key_from``: a variable's name), or which
# request parameter carries a count (the llm planner's ``max_tokens_param``), not a secret.
_NAMES_A_SOURCE = re.compile(r"[_-](from|source|env|var|param)$", re.I)


_HEX = re.compile(r"[0-9a-f]{12}")


@dataclass(frozen=True, slots=True)
class ArtifactNode:
    """A distinct artifact (by digest) that the trace used or produced."""

    digest: str
    codec: str  # "" when the store does not hold the artifact
    size: int | None
    names: tuple[str, ...]  # every name it was used or produced under, first seen first

    @property
    def stored(self) -> bool:
        return self.size is not None

    @property
    def short(self) -> str:
        """The digest's first 12 hex digits, also the artifact's node id in DOT, Mermaid and
        SVG: a digest that is not hex (a forged or damaged store) is hashed to hex first, so
        no recorded string reaches a rendering's markup unescaped."""
        head = self.digest[:12]
        return head if _HEX.fullmatch(head) else hash_bytes(self.digest.encode())[:12]

    @property
    def label(self) -> str:
        return ", ".join(self.names) or self.short

    @property
    def extension(self) -> str:
        return CODEC_FILES.get(self.codec, (".bin", ""))[0]

    @property
    def media_type(self) -> str:
        return CODEC_FILES.get(self.codec, ("", "application/octet-stream"))[1]


@dataclass(frozen=True, slots=True)
class StepNode:
    """One step of the trace, with what this export knows about it beyond its record."""

    record: StepRecord
    inherited: bool  # executed by a fork ancestor, referenced (not copied) by this run
    recovered: bool  # a later step recovers from this one
    changed: tuple[str, ...] = ()  # params this run (a fork) changed from its parent's

    @property
    def index(self) -> int:
        return self.record.index

    @property
    def run_id(self) -> str:
        return self.record.run_id

    @property
    def key(self) -> str:
        """Identifies the step across runs and exports: the run that executed it + its index."""
        return f"{self.record.run_id}.{self.record.index}"

    @property
    def executed(self) -> bool:
        return self.record.kind is StepKind.ACTION

    @property
    def category(self) -> str:
        r = self.record
        if r.kind is StepKind.REJECTION:
            return "rejected"
        if r.kind is StepKind.DECISION:
            return "decision"
        if r.status is StepStatus.FAILED:
            return "failed"
        if r.status is StepStatus.STARTED:
            return "started"
        if r.recovers is not None:
            return "recovery"
        return "succeeded"

    @property
    def classes(self) -> tuple[str, ...]:
        """CSS-style classes: the kind, the category, and every flag that applies."""
        found = [self.record.kind.value, self.category]
        if self.record.recovers is not None and self.category != "recovery":
            found.append("recovery")
        if self.inherited:
            found.append("inherited")
        if self.recovered:
            found.append("recovered")
        if self.changed:
            found.append("changed")
        return tuple(dict.fromkeys(found))  # a decision's kind and category share a name

    @property
    def ended_at(self) -> float | None:
        r = self.record
        return None if r.duration is None else r.started_at + r.duration

    @property
    def title(self) -> str:
        r = self.record
        if r.kind is StepKind.DECISION:
            return f"#{r.index} planner decision failed"
        if r.kind is StepKind.REJECTION:
            return f"#{r.index} {r.action or '?'} rejected"
        suffix = f"  (recovers #{r.recovers})" if r.recovers is not None else ""
        return f"#{r.index} {r.action}{suffix}"

    @property
    def params_text(self) -> str:
        """The params it ran with; those a fork changed marked ``*``."""
        r = self.record
        return " ".join(
            f"{k}={_compact(v)}{'*' if k in self.changed else ''}"
            for k, v in sorted(r.params.items())
        )

    @property
    def detail(self) -> str:
        """One line saying what matters most: the error (and the params it ran with), else
        the params."""
        r = self.record
        if r.error is not None:
            error = f"{r.error.type}: {r.error.message}".replace("\n", " ")
            return f"{error} · {self.params_text}" if r.params else error
        if r.status is StepStatus.STARTED:
            return "started, no completion recorded"
        if not r.params:
            return "no params"
        return self.params_text


@dataclass(frozen=True, slots=True)
class Edge:
    """A step used (or generated) an artifact under a name."""

    index: int
    digest: str
    name: str


@dataclass(frozen=True, slots=True)
class Dependency:
    """``consumer`` used artifacts that ``producer`` generated (the latest producer before it)."""

    producer: int
    consumer: int
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Fork:
    child: RunRecord
    parent: RunRecord
    index: int  # steps < index are the parent's


@dataclass(frozen=True)
class RunGraph:
    run: RunRecord
    runs: dict[str, RunRecord]  # this run and every fork ancestor, this run first
    forks: tuple[Fork, ...]  # this run's own fork link first, then its parent's, ...
    steps: tuple[StepNode, ...]
    artifacts: dict[str, ArtifactNode]  # step inputs and outputs, first seen first
    environments: dict[str, ArtifactNode]  # run id -> its environment snapshot
    environment_summary: dict[str, dict[str, str]]  # run id -> python, platform, ...
    used: tuple[Edge, ...]
    generated: tuple[Edge, ...]
    dependencies: tuple[Dependency, ...]
    recoveries: tuple[tuple[int, int], ...]  # (recovering step, failed step it recovers from)
    continuation: tuple[StepRecord, ...] = ()  # the parent's steps from the fork point on
    workflow_snapshot: dict[str, Any] = field(default_factory=dict)  # environment["workflow"]
    verdict: str | None = None  # a reproduction's: identical | within-tolerance | diverged
    _by_index: dict[int, StepNode] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_index", {s.index: s for s in self.steps})

    def _repr_svg_(self) -> str:
        from reprolam.provenance._svg import render_svg

        return render_svg(self)

    @property
    def fork(self) -> Fork | None:
        return self.forks[0] if self.forks and self.forks[0].child.id == self.run.id else None

    def step(self, index: int) -> StepNode:
        return self._by_index[index]

    @property
    def changed_params(self) -> tuple[tuple[str, str, Any], ...]:
        """(action, param, value) a fork changed: its overrides."""
        return tuple(
            (action, param, value)
            for action, params in sorted(self.run.overrides.items())
            for param, value in sorted(params.items())
        )

    def changed_in(self, step: StepNode) -> set[str]:
        """The params of ``step`` the fork changed (none for inherited steps)."""
        return set(step.changed) if self.fork is not None else set()

    @property
    def headline(self) -> str:
        """The run in one line: what it is and how it ended (a reproduction: its verdict)."""
        run = self.run
        text = f"run {run.id} · {run.workflow} · seed {run.seed} · {run.status.value}"
        if run.verifies:
            text += f" · reproduction of {run.verifies}: {self.verdict or 'verdict unknown'}"
        if self.fork is not None:
            text += f" · fork of {self.fork.parent.id} at step {self.fork.index}"
            if self.changed_params:
                changed = self.changed_params
                text += " · changed " + ", ".join(
                    f"{a}.{p}={clip(_compact(v), MAX_VALUE_TEXT)}" for a, p, v in changed
                )
        return text

    def attempt_groups(self) -> list[tuple[StepNode, ...]]:
        """The steps in order, consecutive failed attempts of one action grouped together
        (retries), so a picture of a run with many retries stays readable."""
        groups: list[list[StepNode]] = []
        for step in self.steps:
            last = groups[-1][-1] if groups else None
            if (
                last is not None
                and _failed_attempt(step)
                and _failed_attempt(last)
                and last.record.action == step.record.action
                and last.inherited == step.inherited
            ):
                groups[-1].append(step)
            else:
                groups.append([step])
        return [tuple(group) for group in groups]

    def action_order(self) -> list[str]:
        """Actions in the workflow's declared order; runs recorded before the order was kept
        fall back to the order they first ran in, then by name."""
        declared = self.workflow_snapshot.get("order")
        order = [str(a) for a in declared] if isinstance(declared, list) else []
        for step in self.steps:
            if step.executed and step.record.action not in order:
                order.append(step.record.action)
        actions = self.workflow_snapshot.get("actions")
        if isinstance(actions, dict):
            order += sorted(a for a in actions if a not in order)
        return order


def build_run_graph(store: TraceStore, run_id: str) -> RunGraph:
    """The neutral view of ``run_id``'s whole trace (inherited steps included)."""
    run = store.get_run(run_id)
    runs, forks = _ancestry(store, run)
    records = store.steps(run.id)
    recovered = {r.recovers for r in records if r.recovers is not None}
    steps = tuple(
        StepNode(
            record=r,
            inherited=(inherited := run.fork_index is not None and r.index < run.fork_index),
            recovered=r.index in recovered,
            changed=()
            if inherited or r.kind is not StepKind.ACTION
            else tuple(sorted(set(run.overrides.get(r.action, {})) & set(r.params))),
        )
        for r in records
    )
    names: dict[str, list[str]] = {}
    used: list[Edge] = []
    generated: list[Edge] = []
    latest: dict[str, int] = {}  # digest -> index of the latest step that produced it
    deps: dict[tuple[int, int], list[str]] = {}
    for r in records:
        for name, key in r.inputs.items():
            used.append(Edge(r.index, key, name))
            _add_name(names, key, name)
            producer = latest.get(key)
            if producer is not None:
                deps.setdefault((producer, r.index), []).append(name)
        for name, key in r.outputs.items():
            generated.append(Edge(r.index, key, name))
            _add_name(names, key, name)
            latest[key] = r.index
    indices = {r.index for r in records}
    continuation: tuple[StepRecord, ...] = ()
    if run.parent_id is not None and run.fork_index is not None:
        k = run.fork_index
        continuation = tuple(s for s in store.steps(run.parent_id) if s.index >= k)
    environments = {
        rid: artifact_node(store, r.environment, ("environment",))
        for rid, r in runs.items()
        if r.environment
    }
    snapshot = _snapshot(store, environments.get(run.id))
    workflow_snapshot = snapshot.get("workflow") if isinstance(snapshot, dict) else None
    return RunGraph(
        run=run,
        runs=runs,
        forks=forks,
        steps=steps,
        artifacts={key: artifact_node(store, key, tuple(n)) for key, n in names.items()},
        environments=environments,
        environment_summary={rid: _summary(store, a) for rid, a in environments.items()},
        used=tuple(used),
        generated=tuple(generated),
        dependencies=tuple(Dependency(p, c, tuple(n)) for (p, c), n in deps.items()),
        recoveries=tuple(
            (r.index, r.recovers)
            for r in records
            if r.recovers is not None and r.recovers in indices
        ),
        continuation=continuation,
        workflow_snapshot=workflow_snapshot if isinstance(workflow_snapshot, dict) else {},
        verdict=_verdict(store, run),
    )


def _verdict(store: TraceStore, run: RunRecord) -> str | None:
    if run.verifies is None:
        return None
    from reprolam.history.verdict import verdict_of

    return verdict_of(store, run)


def _failed_attempt(step: StepNode) -> bool:
    return step.executed and step.record.status is StepStatus.FAILED


def _ancestry(store: TraceStore, run: RunRecord) -> tuple[dict[str, RunRecord], tuple[Fork, ...]]:
    runs = {run.id: run}
    forks: list[Fork] = []
    child = run
    while child.parent_id is not None and child.fork_index is not None:
        if child.parent_id in runs:  # a cycle cannot be written by the engine; do not loop on one
            break
        parent = store.get_run(child.parent_id)
        runs[parent.id] = parent
        forks.append(Fork(child, parent, child.fork_index))
        child = parent
    return runs, tuple(forks)


def _add_name(names: dict[str, list[str]], key: str, name: str) -> None:
    seen = names.setdefault(key, [])
    if name not in seen:
        seen.append(name)


def artifact_node(store: TraceStore, key: str, names: tuple[str, ...]) -> ArtifactNode:
    try:
        record = store.get_artifact_record(key)
    except NotFoundError:
        # Still exported (referenced by digest, marked absent): hiding it would hide a gap.
        return ArtifactNode(key, "", None, names)
    return ArtifactNode(key, record.codec, record.size, names)


def _snapshot(store: TraceStore, env: ArtifactNode | None) -> Any:
    """An environment snapshot, decoded; {} when absent or unreadable."""
    if env is None or env.codec != "json":
        return {}
    try:
        _, data = store.get_artifact(env.digest)
        return json.loads(data)
    except (NotFoundError, ValueError):
        return {}


def _summary(store: TraceStore, env: ArtifactNode) -> dict[str, str]:
    """A few headline fields of an environment snapshot (the full snapshot is its artifact)."""
    snapshot = _snapshot(store, env)
    if not isinstance(snapshot, dict):
        return {}
    keys = ("python", "implementation", "platform", "machine")
    found = {k: str(snapshot[k]) for k in keys if k in snapshot}
    packages = snapshot.get("packages")
    if isinstance(packages, dict) and "reprolam" in packages:
        found["reprolamVersion"] = str(packages["reprolam"])
    return found


# -- helpers shared by the exporters ----------------------------------------------------------

# Characters XML 1.0 cannot carry (C0 controls but tab/newline/return; U+FFFE/U+FFFF;
# lone surrogates). Every format gets the same text, so PROV-N/JSON/XML stay equivalent:
# C0 controls become their Unicode "control pictures" (ESC -> U+241B), the rest U+FFFD.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_safe(text: str) -> str:
    """``text`` with what XML 1.0 cannot carry replaced, visibly (see ``_NOT_XML``)."""
    return _NOT_XML.sub(_picture, text)


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    return chr(0x2400 + code) if code < 0x20 else "\ufffd"


REDACTED = "<redacted>"


def redact(value: Any) -> Any:
    """``value`` with the values of secret-looking keys replaced, recursively.

    Planner configs never hold keys by contract (``Planner.config``); this is a second lock
    on the door, because an export is the thing people attach to papers and tickets.
    """
    if isinstance(value, Mapping):
        return {k: REDACTED if _secret(k, v) else redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def _secret(key: Any, value: Any) -> bool:
    """A secret-looking key holding something a secret could be. A number (``max_tokens``),
    a flag or nothing is not, nor is the name of a secret's source: redacting those changed
    an LLM run's planner config for nothing, and with it the run's header hash, so its
    crate no longer imported as recorded."""
    if value is None or isinstance(value, bool | int | float):
        return False
    name = str(key)
    return bool(_SECRET_KEY.search(name)) and not _NAMES_A_SOURCE.search(name)


def to_json(value: Any) -> str:
    """Stable JSON text for attribute values (sorted keys; unknown objects as strings)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC)


def iso(ts: float | None) -> str | None:
    return None if ts is None else utc(ts).isoformat()


def human_size(size: int | None) -> str:
    if size is None:
        return "absent"
    if type(size) is not int or size < 0:  # an artifacts row edited outside reprolam
        return f"size {str(size)[:20]!r}?"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover - the loop always returns


def _compact(value: Any) -> str:
    return value if isinstance(value, str) else to_json(value)


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters (the last an ellipsis): a picture's words about
    a value, not the value (a 5 MB param made a 20 MB page)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
