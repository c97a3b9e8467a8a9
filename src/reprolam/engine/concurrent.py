"""Concurrency inside a run: independent ready actions run at once, recorded in planner order.

A planner that can name several upcoming proposals at once implements the optional hook
``propose_ready(state) -> list[Proposal]`` (see ``planning.base.ReadyPlanner``): the
proposals it would make from now on, in order, if each succeeded, without changing its own
state (a stateless planner's list starts with the proposal about to run; one that already
handed it out starts after it: the two are told apart by content).
Before the loop executes a proposal, ``Lookahead.launch`` asks for that list, keeps the
proposals that read nothing an earlier one in the list writes (and declare no side
effects), checks each against the policy, and starts them on the executor alongside the
current one.

Nothing is recorded out of order and nothing is guessed into the trace: the loop goes on
exactly as it does sequentially (planner consulted, proposal checked, step started and
recorded one at a time), and when it reaches a step whose action, params, inputs, seed and
index equal an action already running, it takes that action's outcome instead of starting
it again (``Lookahead.take``). So the trace is the sequential trace (same content, same
order; only the timestamps show the overlap). An action started ahead whose step the loop
never reaches as such (an earlier step failed and the planner stopped, or it chose
otherwise, or a budget ran out) is waited for and dropped unrecorded, exactly as a
sequential run would never have started it; it had no declared effects, and output files
it left in its workdir are removed. Failures are therefore recorded in order, steps that
depend on a failed one never start (they are never launched alongside it), and nothing is
retried except by the policy's explicit retries.

Only executors that run actions outside this process and accept calls from several threads
(``concurrent = True``: dask) get a lookahead. ``local`` stays sequential (actions in this
interpreter share its stdout, global RNGs and effects watch), and so does ``process``: it
has one worker process, and a second one would cost its start-up and imports (about 2 s
for the bundled workflow on a 2-core machine, measured) where the bundled workflow's
independent actions take 0.1-0.3 s.
Runs with injected faults stay sequential too (a fault decides per occurrence at record
time), and so do runs with ``reuse`` (what the cache would take must not execute).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reprolam.context import ActionContext, derive_seed
from reprolam.engine.executors import Executor, Outcome, error_info
from reprolam.engine.policy import CheckedProposal
from reprolam.planning.base import Proposal
from reprolam.trace.records import StepRecord

if TYPE_CHECKING:
    from reprolam.actions import ActionSpec
    from reprolam.engine.loop import RunLoop

MAX_AHEAD = 8  # actions of one run in flight at once (more than any cluster here has workers)


@dataclass(frozen=True, slots=True)
class Ran:
    """An action that ran alongside earlier steps: its outcome and its own timing."""

    outcome: Outcome
    started_at: float  # wall clock when it was started on the executor
    duration: float  # seconds from start to outcome, as the sequential path measures them


@dataclass(slots=True)
class _InFlight:
    key: tuple[Any, ...]
    future: Future[Ran]
    ctx: ActionContext


def step_key(
    index: int, action: str, params: Mapping[str, Any], inputs: Mapping[str, str], seed: int
) -> tuple[Any, ...]:
    """What makes two executions of a step the same: index, action, params, inputs, seed."""
    return (index, action, repr(sorted(params.items())), tuple(sorted(inputs.items())), seed)


def wants_lookahead(
    executor: Executor, planner: Any, faults: Mapping[str, float], reuse: bool
) -> bool:
    """Whether a run on ``executor`` with ``planner`` may start ready actions ahead.

    Not with injected faults (decided per occurrence when the step is recorded), nor with
    ``reuse`` (a step the store-wide cache would take must not execute on a worker).
    """
    return (
        bool(getattr(executor, "concurrent", False))
        and callable(getattr(planner, "propose_ready", None))
        and not faults
        and not reuse
    )


class Lookahead:
    """The actions of one run started ahead of the loop, and the threads waiting on them."""

    def __init__(self, loop: RunLoop, width: int = MAX_AHEAD) -> None:
        self.loop = loop
        self.width = width
        self.flying: dict[int, _InFlight] = {}  # step index -> the action started for it
        self.pool: ThreadPoolExecutor | None = None

    # -- starting ahead ---------------------------------------------------------------------

    def launch(self, proposal: Proposal, checked: CheckedProposal) -> None:
        """Before the loop executes ``proposal``: start it and the independent ones after it."""
        loop = self.loop
        index = len(loop.state.steps)
        ready = list(loop.planner.propose_ready(loop.state))  # type: ignore[attr-defined]
        if ready and _same(ready[0], proposal):
            ready = ready[1:]  # a stateless planner forecasts from the current proposal on
        if not ready:
            return  # nothing to overlap: the loop runs this one as it always does
        batch: list[tuple[int, Proposal, CheckedProposal]] = [(index, proposal, checked)]
        written = set(checked.spec.outputs)
        seen = {checked.spec.name}
        for position, ahead in enumerate(ready[: self.width - 1], start=1):
            spec = loop.state.workflow.actions.get(ahead.action) if ahead.action else None
            if spec is None or ahead.invalid_reason is not None or ahead.action in seen:
                break
            reads = {ahead.inputs.get(name, name) for name in spec.inputs}
            if reads & written or spec.determinism == "external" or spec.side_effects:
                break  # it needs an earlier one's output, or it acts on the world: in turn
            try:
                checked_ahead = loop.policy.check(ahead, loop.state, loop.overrides)
            except Exception:  # a rejection (or a precondition's error): met again in turn
                break
            batch.append((index + position, ahead, checked_ahead))
            written |= set(spec.outputs)
            seen.add(spec.name)
        if len(batch) < 2:
            return
        for step_index, ahead, ahead_checked in batch:
            self._start(step_index, ahead, ahead_checked)

    def _start(self, index: int, proposal: Proposal, checked: CheckedProposal) -> None:
        loop = self.loop
        spec = checked.spec
        seed = proposal.seed
        if seed is None:
            seed = derive_seed(loop.run.seed, spec.name, loop.occurrences[spec.name])
        key = step_key(index, spec.name, checked.params, checked.inputs, seed)
        current = self.flying.get(index)
        if current is not None:
            if current.key == key:
                return  # already running
            self._drop(index)
        inputs = [loop._input(d) for d in checked.inputs.values()]
        ctx = loop.context(seed, index)
        if self.pool is None:
            self.pool = ThreadPoolExecutor(self.width, thread_name_prefix="reprolam-ahead")
        future = self.pool.submit(
            _call,
            loop.executor,
            spec,
            inputs,
            checked.params,
            ctx,
            loop.policy.action_timeout,
        )
        self.flying[index] = _InFlight(key, future, ctx)

    # -- taking -------------------------------------------------------------------------------

    def take(self, started: StepRecord) -> tuple[StepRecord, Outcome, float] | None:
        """The outcome of the action already running for this step, if it is the same one.

        Actions started for earlier indexes are dropped (the loop did not reach them as
        such). When nothing the same runs for this step, the forecast went another way:
        everything still in flight was forecast on a path the run did not take, and is
        dropped too.
        """
        if not self.flying:
            return None
        for index in [i for i in self.flying if i < started.index]:
            self._drop(index)
        flying = self.flying.get(started.index)
        key = step_key(
            started.index, started.action, started.params, started.inputs, started.seed or 0
        )
        if flying is None or flying.key != key:
            self.drop_all()
            return None
        del self.flying[started.index]
        ran = flying.future.result()
        # When it really started: the engine's own record, completed in place (StepFrame.finish)
        object.__setattr__(started, "started_at", ran.started_at)
        return started, ran.outcome, ran.duration

    # -- ending -------------------------------------------------------------------------------

    def _drop(self, index: int) -> None:
        """Forget an action started ahead: wait for it (it may still run) and clean up after it."""
        flying = self.flying.pop(index)
        if not flying.future.cancel():
            flying.future.result()  # _call never raises
        _remove_workdir(flying.ctx)

    def drop_all(self) -> None:
        for index in list(self.flying):
            self._drop(index)

    def close(self) -> None:
        """Drop everything still in flight (the run ended before reaching it)."""
        self.drop_all()
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            self.pool = None


def _call(
    executor: Executor,
    spec: ActionSpec,
    inputs: Sequence[Any],
    params: Mapping[str, Any],
    ctx: ActionContext,
    timeout: float | None,
) -> Ran:
    started_at = time.time()
    t0 = time.perf_counter()
    try:
        outcome = executor.execute(spec, inputs, params, ctx, timeout=timeout)
    except Exception as exc:  # an executor's own failure: the step's, as sequentially
        outcome = Outcome(error=error_info(exc))
    return Ran(outcome, started_at, time.perf_counter() - t0)


def _remove_workdir(ctx: ActionContext) -> None:
    used = ctx.used_workdir
    if used is not None:
        from reprolam import files

        files.remove_tree(Path(used))


def _same(a: Proposal, b: Proposal) -> bool:
    return (a.action, dict(a.params), dict(a.inputs), a.seed) == (
        b.action,
        dict(b.params),
        dict(b.inputs),
        b.seed,
    )
