"""External input data (``--input NAME=PATH``): recorded artifacts with digests and paths.

An input is stored like an action's output file or directory (``reprolam.files``) -- or,
with ``copy=False``, only hashed -- before the run's first step, and recorded in the
run's environment snapshot as ``inputs.NAME = {digest, codec, path, copied}``. From Python
an input may also be a value (an array, a frame, bytes, ...: anything but a ``str`` or a
path, which name files): it is encoded like an action's output and recorded with an empty
``path`` (a value cannot change, so a reproduction uses it as recorded). It has no
producing step (``artifact_producer`` is None: an external input). Forks inherit the
parent's inputs as recorded; reproductions read the recorded paths again, so an edited
file shows up, before anything executes, as a changed input (``changed_inputs``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reprolam import files
from reprolam.errors import CodecError, ConfigError, ReprolamError
from reprolam.hashing import digest
from reprolam.planning.base import ArtifactRef
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import ArtifactRecord, RunRecord

if TYPE_CHECKING:
    from reprolam.codecs import Serializer
    from reprolam.engine.loop import RunLoop
    from reprolam.workflows.registry import Workflow


@dataclass(frozen=True, slots=True)
class InputData:
    """A file or directory given to a run; ``copy=False`` records its digest and path only."""

    path: Path
    copy: bool = True

    def __post_init__(self) -> None:  # InputData("data.csv") as well as a Path
        if not isinstance(self.path, Path):
            object.__setattr__(self, "path", Path(os.fspath(self.path)))


@dataclass(frozen=True, slots=True)
class RecordedInput:
    name: str
    digest: str
    codec: str
    path: str
    copied: bool
    # The path's stat when it was hashed (not recorded): a later read can tell a change.
    seen: files.Stamped | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "codec": self.codec,
            "path": self.path,
            "copied": self.copied,
        }


@dataclass(frozen=True, slots=True)
class InputChange:
    """An input whose content at its recorded path is not what the run recorded."""

    name: str
    path: str
    old: str
    new: str | None  # None: the path is gone

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "old": self.old, "new": self.new}

    def __str__(self) -> str:
        now = self.new or "(missing)"
        return f"input {self.name!r} changed: {self.path} was {self.old[:12]}, now {now[:12]}"


# A given input: a file or directory (InputData, or its path as str or PathLike), or a value.
GivenInputs = Mapping[str, Any]


def as_input(value: InputData | str | os.PathLike[str]) -> InputData:
    return value if isinstance(value, InputData) else InputData(Path(value))


def _is_path(value: Any) -> bool:
    return isinstance(value, InputData | str | os.PathLike)


def record_inputs(
    store: TraceStore,
    serializer: Serializer,
    workflow: Workflow,
    given: GivenInputs,
    *,
    partial: bool = False,
) -> list[RecordedInput]:
    """Store (or hash) every given input; ``ConfigError`` for unknown (or missing) names."""
    unknown = sorted(set(given) - set(workflow.inputs))
    if unknown:
        declared = ", ".join(workflow.inputs) or "none"
        raise ConfigError(
            f"workflow {workflow.name!r} has no input {unknown[0]!r} (its inputs: {declared}); "
            "declare it with workflow(..., inputs=[...]) or fix the {inputs} name"
        )
    missing = [name for name in workflow.inputs if name not in given]
    if missing and not partial:
        raise ConfigError(
            f"workflow {workflow.name!r} needs input {missing[0]!r}: pass it in {{inputs}} "
            f"as {missing[0]}=PATH"
        )
    recorded = []
    for name in sorted(given):
        if not _is_path(given[name]):
            recorded.append(_record_value(store, serializer, name, given[name]))
            continue
        data = as_input(given[name])
        path = data.path.expanduser().absolute()
        if not path.exists():
            raise ConfigError(
                f"input {name!r}: {path} does not exist; pass an existing file or directory"
            )
        seen = None
        if data.copy:
            manifest = files.store_path(store, path, follow_links=True)
        else:
            seen = files.stamped_signature(path)
            manifest = files.hash_path(path, follow_links=True)
        tag, raw = serializer.dumps_typed(manifest)
        key = digest(raw)
        store.record(artifacts=[(ArtifactRecord(key, tag, len(raw)), raw)])
        recorded.append(RecordedInput(name, key, tag, str(path), data.copy, seen))
    return recorded


def _record_value(
    store: TraceStore, serializer: Serializer, name: str, value: Any
) -> RecordedInput:
    try:
        tag, raw = serializer.dumps_typed(value)
    except CodecError as exc:
        raise ConfigError(
            f"input {name!r}: {exc}; or pass a path to a file or directory (a str is a path)"
        ) from None
    key = digest(raw)
    store.record(artifacts=[(ArtifactRecord(key, tag, len(raw)), raw)])
    return RecordedInput(name, key, tag, "", copied=True)


def recorded_inputs(environment: Mapping[str, Any]) -> list[RecordedInput]:
    """The inputs a run recorded in its environment snapshot."""
    found = environment.get("inputs") or {}
    return [
        RecordedInput(name, str(v["digest"]), str(v["codec"]), str(v["path"]), bool(v["copied"]))
        for name, v in sorted(found.items())
    ]


def run_inputs(store: TraceStore, run: RunRecord) -> list[RecordedInput]:
    """The data ``run`` was given, as recorded; none if its environment record cannot be
    read (``audit`` says why: a listing must not fail on it)."""
    from reprolam.trace.stored_json import load_json

    try:
        return recorded_inputs(load_json(store, run.environment)) if run.environment else []
    except (ReprolamError, KeyError, TypeError, ValueError, AttributeError):
        return []


def install(loop: RunLoop, inputs: list[RecordedInput]) -> None:
    """Make the inputs visible to the planner and actions as artifacts of no step."""
    for item in inputs:
        loop.state.artifacts[item.name] = ArtifactRef(item.name, item.digest, item.codec, -1)
        loop.codecs[item.digest] = item.codec
        if not item.copied:  # not in the store: actions read the original, as recorded
            loop.values[item.digest] = Path(item.path)
            loop.watched[item.digest] = UncopiedInput(item)
        if not loop.planner.instant:  # LLMs read what each artifact is, inputs included
            loop.state.summaries[item.digest] = _summary(loop, item)


class InputChangedError(ConfigError):
    """An input recorded without a copy changed while the run read it."""


class UncopiedInput:
    """Checks, each time a step is given it, that an input recorded without a copy still
    holds the recorded content: by stat (size, mtime_ns), by content when the stat is
    racily clean or differs. A change stops the run (its steps would otherwise be recorded
    as having read the recorded digest)."""

    __slots__ = ("item", "seen")

    def __init__(self, item: RecordedInput) -> None:
        self.item = item
        self.seen = item.seen  # None: not stat'ed in this process, so check the content

    def check(self) -> None:
        now = files.stamped_signature(self.item.path)
        if files.vouches(self.seen, now):
            return
        change = next(_changes([self.item]), None)
        if change is not None:
            raise InputChangedError(
                f"{change} during the run, which recorded it without a copy: "
                f"the run is stopped; restore {self.item.path} and `reprolam resume` it, or "
                "start a new run (a run given a copy reads its own copy)"
            )
        self.seen = now  # confirmed by content: later reads trust this stat unless racy


def _summary(loop: RunLoop, item: RecordedInput) -> str:
    """The input as recorded (a file's manifest: its name and size), never the file at its
    path now, which a fork or a resume may find changed."""
    from reprolam.codecs import describe

    try:
        record, data = loop.store.get_artifact(item.digest)
        return describe(loop.serializer.loads_typed(record.codec, data))
    except Exception:  # a summary never fails a run (audit says what is wrong with the input)
        return "input"


def changed_inputs(store: TraceStore, run: RunRecord) -> list[InputChange]:
    """Inputs of ``run`` whose recorded path now holds other content (or nothing)."""
    from reprolam.trace.stored_json import load_json

    return list(_changes(recorded_inputs(load_json(store, run.environment))))


def _changes(inputs: list[RecordedInput]) -> Iterator[InputChange]:
    """The inputs read from a path (not values given from Python) whose path now holds
    other content than was recorded, or nothing."""
    from reprolam.codecs import default_serializer

    serializer = default_serializer()
    for item in inputs:
        if not item.path:
            continue  # a value: it is what was recorded
        path = Path(item.path)
        now: str | None = None
        if path.exists():
            _tag, raw = serializer.dumps_typed(files.hash_path(path, follow_links=True))
            now = digest(raw)
        if now != item.digest:
            yield InputChange(item.name, item.path, item.digest, now)


def reread(
    store: TraceStore, serializer: Serializer, workflow: Workflow, inputs: list[RecordedInput]
) -> list[RecordedInput]:
    """A reproduction's inputs: the recorded paths read again (the stored copy if gone)."""
    given: dict[str, InputData | str | os.PathLike[str]] = {}
    kept = []
    for item in inputs:
        if not item.path:
            kept.append(item)  # a value given from Python: as recorded
        elif Path(item.path).exists():
            given[item.name] = InputData(Path(item.path), copy=item.copied)
        elif item.copied:
            kept.append(item)
        else:
            raise ConfigError(
                f"input {item.name!r} was recorded without a copy at {item.path}, which is "
                "gone: restore it to reproduce the run"
            )
    return kept + record_inputs(store, serializer, workflow, given, partial=True)


def check_uncopied(inputs: list[RecordedInput], owner: str, verb: str) -> None:
    """Refuse to go on when an input recorded without a copy no longer holds what was recorded.

    Its steps would read the new content under the recorded digest: a record that says
    something untrue (and a cache that reuses what the old content gave).
    """
    for change in _changes([item for item in inputs if not item.copied]):
        raise ConfigError(
            f"{change}: {owner} recorded it without a copy, so it cannot be read as "
            f"recorded; restore it to {verb}, or start a new run with the new data"
        )


def inputs_for(
    engine: Any,
    workflow: Workflow,
    given: GivenInputs | None,
    parent: RunRecord | None,
    verifies: str | None,
) -> list[RecordedInput]:
    """What a new run reads: given inputs, else a fork parent's, else a reproduced run's."""
    from reprolam.trace.stored_json import load_json

    store, serializer = engine.store, engine.serializer
    if verifies is not None and not given:
        original = store.get_run(verifies)
        found = recorded_inputs(load_json(store, original.environment))
        return reread(store, serializer, workflow, found)
    if parent is not None:
        inherited = {i.name: i for i in recorded_inputs(load_json(store, parent.environment))}
        fresh = record_inputs(store, serializer, workflow, given or {}, partial=True)
        check_uncopied(
            [i for name, i in inherited.items() if name not in (given or {})],
            f"run {parent.id}",
            "fork it",
        )
        return sorted({**inherited, **{i.name: i for i in fresh}}.values(), key=lambda i: i.name)
    return record_inputs(store, serializer, workflow, given or {})
