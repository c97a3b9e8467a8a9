"""``reprolam._frozen.builder``: the engine's fast constructor of frozen records builds the
very record the class would, still frozen, and falls back to the class where it cannot."""

from __future__ import annotations

import dataclasses
import inspect
import sys
from dataclasses import dataclass, field
from typing import Any

import pytest

from reprolam._frozen import builder, fast_init
from reprolam.engine.executors import Outcome
from reprolam.planning.base import ArtifactRef, Proposal
from reprolam.trace.records import ArtifactRecord, ErrorInfo, StepKind, StepRecord, StepStatus


@pytest.mark.parametrize(
    ("cls", "values"),
    [
        (Outcome, ({"x": 1}, ErrorInfo("E", "m"), {"stdout": "hi"}, None)),
        (ArtifactRef, ("x", "ab" * 32, "json", 3)),
        (ArtifactRecord, ("ab" * 32, "npy", 10)),
    ],
)
def test_a_built_record_is_the_one_the_class_builds_and_stays_frozen(
    cls: type, values: tuple[Any, ...]
) -> None:
    build = builder(cls)
    assert build is not cls  # these engine records take the fast path
    made, reference = build(*values), cls(*values)
    assert type(made) is cls
    assert made == reference
    if cls is ArtifactRecord:  # hashable: the same hash
        assert hash(made) == hash(reference)
    name = dataclasses.fields(cls)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(made, name, None)


@dataclass(frozen=True)
class NoSlots:
    a: int


@dataclass(frozen=True, slots=True)
class Checked:
    a: int

    def __post_init__(self) -> None:
        if self.a < 0:
            raise ValueError("negative")


@dataclass(frozen=True, slots=True)
class Derived(ArtifactRecord):
    extra: int = 0


@dataclass(frozen=True, slots=True)
class NotInit:
    a: int
    b: list[int] = field(default_factory=list, init=False)


@pytest.mark.parametrize("cls", [NoSlots, Checked, Derived, NotInit])
def test_records_it_cannot_build_exactly_are_built_by_their_class(cls: type) -> None:
    assert builder(cls) is cls


def test_every_field_takes_the_fields_init_leaves_out() -> None:
    reference = StepRecord("r", 1, StepKind.ACTION, "a", StepStatus.SUCCEEDED, 1.5, hash="h")
    names = [f.name for f in dataclasses.fields(StepRecord)]
    values = [("row",) if name == "rendered" else getattr(reference, name) for name in names]
    made = builder(StepRecord, every_field=True)(*values)
    assert type(made) is StepRecord
    assert made.rendered == ("row",)
    assert made == reference  # rendered is not compared
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.rendered = None  # type: ignore[misc]


@pytest.mark.parametrize("cls", [NoSlots, NotInit])
def test_every_field_of_a_record_it_cannot_build_fast_goes_through_init(cls: type) -> None:
    build = builder(cls, every_field=True)
    assert build is not cls
    made = build(*([7] if cls is NoSlots else [7, [1]]))
    assert type(made) is cls
    assert made.a == 7
    if cls is NotInit:
        assert made.b == [1]


_EVENTS: list[str] | None = None  # what the audit hook below collects, while it is a list


def _collect(event: str, args: tuple[Any, ...]) -> None:
    if _EVENTS is not None:
        _EVENTS.append(event)


def test_a_small_record_is_built_without_an_audit_event_and_a_large_one_is_the_same() -> None:
    """``__class__`` assignment raises ``object.__setattr__`` for every audit hook (the
    engine's own runs on each): a record of few fields is filled through its slots instead."""
    global _EVENTS  # noqa: PLW0603
    sys.addaudithook(_collect)  # hooks cannot be removed: this one only collects while asked
    small, large = builder(ArtifactRecord), builder(StepRecord, every_field=True)
    names = [f.name for f in dataclasses.fields(StepRecord)]
    reference = StepRecord("r", 1, StepKind.ACTION, "a", StepStatus.SUCCEEDED, 1.5, hash="h")
    values = [None if n == "rendered" else getattr(reference, n) for n in names]
    _EVENTS = []
    try:
        record = small("ab" * 32, "npy", 10)
        assert _EVENTS == []
        assert large(*values) == reference
        assert _EVENTS == ["object.__setattr__"]  # the class assignment: one event, any size
    finally:
        _EVENTS = None
    assert record == ArtifactRecord("ab" * 32, "npy", 10)


@dataclass(frozen=True, slots=True)
class SmallWithFixed:
    a: int
    b: str = field(default="fixed", init=False)


def test_a_small_record_gets_the_default_of_a_field_init_leaves_out() -> None:
    made = builder(SmallWithFixed)(3)
    assert type(made) is SmallWithFixed
    assert (made.a, made.b) == (3, "fixed")
    assert made == SmallWithFixed(3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.b = "other"  # type: ignore[misc]


def _twins() -> tuple[type, type]:
    """The same frozen record twice: as dataclasses makes it, and with ``fast_init``."""

    def make() -> type:
        @dataclass(frozen=True, slots=True)
        class Record:
            a: int
            b: list[int] = field(default_factory=list)
            c: str = "c"
            d: int | None = field(default=None, kw_only=True)

        return Record

    return make(), fast_init(make())


def test_fast_init_takes_the_same_arguments_and_builds_the_same_record() -> None:
    plain, fast = _twins()
    assert fast.__init__ is not plain.__init__  # type: ignore[misc]
    assert str(inspect.signature(fast)) == str(inspect.signature(plain))
    for args, kwargs in [((1,), {}), ((1, [2], "x"), {"d": 4}), ((), {"a": 1, "c": "y"})]:
        made = fast(*args, **kwargs)
        assert type(made) is fast
        assert dataclasses.astuple(made) == dataclasses.astuple(plain(*args, **kwargs))
    first, second = fast(1), fast(2)
    assert first.b == []
    assert first.b is not second.b  # each its own default from the factory
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.a = 3
    for bad_args, bad_kwargs in [((), {}), ((1, [], "c", 4), {}), ((1,), {"e": 1})]:
        with pytest.raises(TypeError) as fast_error:
            fast(*bad_args, **bad_kwargs)
        with pytest.raises(TypeError) as plain_error:
            plain(*bad_args, **bad_kwargs)
        assert str(fast_error.value) == str(plain_error.value)


def test_fast_init_leaves_a_class_it_cannot_rebuild_exactly() -> None:
    for cls in (Checked, NotInit, NoSlots, Derived):
        init = cls.__init__  # type: ignore[misc]
        assert fast_init(cls).__init__ is init  # type: ignore[misc]
    with pytest.raises(ValueError, match="negative"):
        Checked(-1)


def test_a_proposal_is_built_by_the_fast_init() -> None:
    proposal = Proposal("train", {"c": 1.0}, seed=7)
    assert proposal == Proposal(action="train", params={"c": 1.0}, seed=7)
    assert (proposal.inputs, proposal.decision, proposal.rationale) == ({}, {}, "")
    assert Proposal.__init__.__qualname__ == "Proposal.__init__"
