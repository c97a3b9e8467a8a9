"""``reprolam._frozen.builder``: the engine's fast constructor of frozen records builds the
very record the class would, still frozen, and falls back to the class where it cannot."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from typing import Any

import pytest

from reprolam._frozen import builder
from reprolam.engine.executors import Outcome
from reprolam.planning.base import ArtifactRef
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
