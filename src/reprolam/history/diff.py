"""Compare two runs step by step: shared history, params, artifacts, seeds, environment, metrics.

Both runs' records are verified as replay verifies them; ``unverified`` names a run whose
record does not (what the diff says of it may not be what it recorded).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reprolam.errors import NotFoundError
from reprolam.history.record_check import unverified
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import RunRecord, StepRecord
from reprolam.trace.stored_json import load_json

_STEP_FIELDS = ("kind", "action", "status", "action_version", "fingerprint", "seed")


@dataclass(frozen=True, slots=True)
class StepDiff:
    index: int
    action_a: str | None
    action_b: str | None
    shared: bool  # the very same recorded step (inherited by a fork)
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "action_a": self.action_a,
            "action_b": self.action_b,
            "shared": self.shared,
            "changes": {k: list(v) for k, v in self.changes.items()},
        }


@dataclass(frozen=True, slots=True)
class RunDiff:
    a: RunRecord
    b: RunRecord
    relation: str  # how the runs are related, in words
    shared_steps: int  # leading steps both runs hold by reference (a fork's inherited prefix)
    steps: list[StepDiff]
    environment: dict[str, tuple[Any, Any]]
    metrics: dict[str, tuple[Any, Any]]
    code: list[Any] = field(default_factory=list)  # CodeChange: a's code -> b's code
    ranked: Any = None  # RankedEnvironment: packages the actions import first
    # run id -> why its record does not verify (what is shown of it may not be what it ran)
    unverified: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        differing = sum(not s.shared and bool(s.changes) for s in self.steps)
        metrics = f"; metrics differ: {', '.join(self.metrics)}" if self.metrics else ""
        return (
            f"<RunDiff {self.a.id} vs {self.b.id}: {self.relation}; "
            f"{self.shared_steps} shared steps, {differing} differing{metrics}>"
        )

    def _repr_html_(self) -> str:
        from reprolam.notebook import diff_html

        return diff_html(self)

    @property
    def identical_outputs(self) -> bool:
        return not any(
            k.startswith("outputs.") or k in ("status", "action")
            for s in self.steps
            for k in s.changes
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a.id,
            "b": self.b.id,
            "relation": self.relation,
            "shared_steps": self.shared_steps,
            "steps": [s.to_dict() for s in self.steps],
            "environment": {k: list(v) for k, v in self.environment.items()},
            "metrics": {k: list(v) for k, v in self.metrics.items()},
            "code": [c.to_dict() for c in self.code],
            "environment_ranked": self.ranked.to_dict() if self.ranked is not None else None,
            "unverified": self.unverified,
        }


def diff_runs(store: TraceStore, a_ref: str, b_ref: str) -> RunDiff:
    a = store.get_run(store.resolve_run_id(a_ref))
    b = store.get_run(store.resolve_run_id(b_ref))
    steps_a, steps_b = store.steps(a.id), store.steps(b.id)
    diffs = [
        _step_diff(
            i, steps_a[i] if i < len(steps_a) else None, steps_b[i] if i < len(steps_b) else None
        )
        for i in range(max(len(steps_a), len(steps_b)))
    ]
    shared = 0
    for d in diffs:
        if not d.shared:
            break
        shared += 1
    from reprolam.history.code_diff import code_changes, code_manifest, rank_environment

    env_a, env_b = load_json(store, a.environment), load_json(store, b.environment)
    environment = environment_diff(env_a, env_b)
    manifests = (code_manifest(store, env_a), code_manifest(store, env_b))
    return RunDiff(
        a=a,
        b=b,
        relation=_relation(store, a, b),
        shared_steps=shared,
        steps=diffs,
        environment=environment,
        metrics=_metrics_diff(store, a, b),
        code=code_changes(*manifests, sides=("a", "b")),
        ranked=rank_environment(environment, manifests),
        unverified=unverified(store, (a, b)),
    )


def _step_diff(index: int, a: StepRecord | None, b: StepRecord | None) -> StepDiff:
    if a is None or b is None:
        present = a or b
        assert present is not None
        side = "only in b" if a is None else "only in a"
        return StepDiff(
            index,
            a.action if a else None,
            b.action if b else None,
            shared=False,
            changes={"presence": (side, present.action)},
        )
    changes: dict[str, tuple[Any, Any]] = {}
    for name in _STEP_FIELDS:
        va, vb = getattr(a, name), getattr(b, name)
        if va != vb:
            changes[name] = (getattr(va, "value", va), getattr(vb, "value", vb))
    for label, ma, mb in (
        ("params", a.params, b.params),
        ("inputs", a.inputs, b.inputs),
        ("outputs", a.outputs, b.outputs),
    ):
        for key in sorted(ma.keys() | mb.keys()):
            if ma.get(key) != mb.get(key):
                changes[f"{label}.{key}"] = (ma.get(key), mb.get(key))
    error_a = a.error.type if a.error else None
    error_b = b.error.type if b.error else None
    if error_a != error_b:
        changes["error"] = (error_a, error_b)
    shared = a.hash is not None and a.hash == b.hash
    return StepDiff(index, a.action, b.action, shared=shared, changes=changes)


def _relation(store: TraceStore, a: RunRecord, b: RunRecord) -> str:
    if a.id == b.id:
        return "the same run"
    if b.parent_id == a.id:
        return f"b is a fork of a at step {b.fork_index}"
    if a.parent_id == b.id:
        return f"a is a fork of b at step {a.fork_index}"
    if b.verifies == a.id:
        return "b is a reproduction of a"
    if a.verifies == b.id:
        return "a is a reproduction of b"
    if a.parent_id and a.parent_id == b.parent_id:
        return f"siblings: both fork {a.parent_id}"
    line_a, line_b = _ancestors(store, a), _ancestors(store, b)
    if a.id in line_b:
        return f"b descends from a through {_forks(line_b[: line_b.index(a.id)])}"
    if b.id in line_a:
        return f"a descends from b through {_forks(line_a[: line_a.index(b.id)])}"
    common = next((run_id for run_id in line_a if run_id in line_b), None)
    if common is not None:
        return f"related: both descend from {common}"
    return "independent runs"


def _ancestors(store: TraceStore, run: RunRecord) -> list[str]:
    """The runs ``run`` was forked from, its parent first (up to a missing or looping one)."""
    line: list[str] = []
    parent_id = run.parent_id
    while parent_id is not None and parent_id not in line and parent_id != run.id:
        line.append(parent_id)
        try:
            parent_id = store.get_run(parent_id).parent_id
        except NotFoundError:
            break
    return line


def _forks(run_ids: list[str]) -> str:
    return ("fork " if len(run_ids) == 1 else "forks ") + ", ".join(run_ids)


def environment_diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Flat differences between two environment snapshots (``packages.numpy``: (a, b), ...)."""
    changes: dict[str, tuple[Any, Any]] = {}
    _flatten_diff("", a, b, changes)
    for key, (was, now) in list(changes.items()):
        if key.rpartition(".")[2] == "threadpools" and not (was and now):
            # Read only once something imported threadpoolctl (scikit-learn does): a run
            # started before has none recorded; unknown then, not different.
            del changes[key]
    return changes


def _flatten_diff(prefix: str, a: Any, b: Any, out: dict[str, tuple[Any, Any]]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(a.keys() | b.keys()):
            _flatten_diff(f"{prefix}{key}.", a.get(key), b.get(key), out)
    elif a != b:
        out[prefix.rstrip(".")] = (a, b)


def _metrics_diff(store: TraceStore, a: RunRecord, b: RunRecord) -> dict[str, tuple[Any, Any]]:
    from reprolam.history.metrics import final_metrics

    ma, mb = final_metrics(store, a) or {}, final_metrics(store, b) or {}
    return {
        k: (ma.get(k), mb.get(k)) for k in sorted(ma.keys() | mb.keys()) if ma.get(k) != mb.get(k)
    }
