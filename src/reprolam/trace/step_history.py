"""A run's trace as planners see it, with recorded steps read from the store only when asked.

A fork or a resumed run starts from thousands of recorded steps. The rules and script
planners never look at them, so they are not read: ``StepHistory`` knows how many there
are and reads a step (or a page of them) the first time a planner asks, e.g. an LLM
planner building its conversation. Steps the run adds itself are held in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, overload

from reprolam.trace.records import StepRecord

PAGE = 256  # recorded steps read at once when a planner walks the history

Loader = Callable[[int, int], list[StepRecord]]  # (start, stop) -> steps with those indices


def steps_from(steps: Sequence[StepRecord], start: int) -> list[StepRecord]:
    """The steps with index >= ``start``; recorded steps before it are not read."""
    if isinstance(steps, StepHistory) and start >= steps.recorded:
        return [s for s in steps.own if s.index >= start]
    return [s for s in steps if s.index >= start]


class StepHistory(Sequence[StepRecord]):
    """Recorded steps ``start..recorded-1`` in the store, then the ones appended here.

    Position 0 is step ``start`` (0 for a whole trace; a fork point for the steps after it).
    """

    def __init__(self, load: Loader, recorded: int, *, start: int = 0) -> None:
        self._load = load
        self.start = start
        self.recorded = recorded
        self._pages: dict[int, list[StepRecord]] = {}
        self._one: dict[int, StepRecord] = {}
        self.own: list[StepRecord] = []

    def append(self, step: StepRecord) -> None:
        self.own.append(step)

    def __len__(self) -> int:
        return self.recorded - self.start + len(self.own)

    @overload
    def __getitem__(self, index: int) -> StepRecord: ...
    @overload
    def __getitem__(self, index: slice) -> list[StepRecord]: ...
    def __getitem__(self, index: int | slice) -> StepRecord | list[StepRecord]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"step {index} is not in this trace of {len(self)} steps")
        index += self.start
        if index >= self.recorded:
            return self.own[index - self.recorded]
        page = self._pages.get(index // PAGE)
        if page is not None and index % PAGE < len(page):
            return page[index % PAGE]
        if index != self.recorded - 1:
            page = self._page(index // PAGE)
            if index % PAGE < len(page):
                return page[index % PAGE]
            raise IndexError(f"step {index} is missing from the recorded trace")
        if index not in self._one:  # the last step (``last_step``): no page read for it
            found = self._load(index, index + 1)
            if not found:
                raise IndexError(f"step {index} is missing from the recorded trace")
            self._one[index] = found[0]
        return self._one[index]

    def _page(self, number: int) -> list[StepRecord]:
        page = self._pages.get(number)
        if page is None:
            first = number * PAGE
            page = self._load(first, min(first + PAGE, self.recorded))
            self._pages[number] = page
        return page

    def _pages_in_order(self) -> range:
        return range(self.start // PAGE, (self.recorded + PAGE - 1) // PAGE)

    def __iter__(self) -> Iterator[StepRecord]:
        for number in self._pages_in_order():
            for step in self._page(number):
                if step.index >= self.start:
                    yield step
        yield from self.own

    def __reversed__(self) -> Iterator[StepRecord]:
        yield from reversed(self.own)
        for number in reversed(self._pages_in_order()):
            for step in reversed(self._page(number)):
                if step.index >= self.start:
                    yield step

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    def __repr__(self) -> str:
        return (
            f"StepHistory(steps {self.start}..{self.recorded - 1} recorded + {len(self.own)} new)"
        )

    __hash__: Any = None
