"""The engine: policy -> execute -> record, on a small synthetic workflow."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

import pytest
from pydantic import Field

from reprolam import (
    ActionContext,
    Done,
    Engine,
    NoProposal,
    Policy,
    Proposal,
    RulesPlanner,
    RunState,
    ScriptPlanner,
    action,
    workflow,
)
from reprolam.engine.policy import CheckedProposal
from reprolam.errors import ConfigError, StoreError
from reprolam.planning.base import ArtifactRef
from reprolam.trace.memory import MemoryStore
from reprolam.trace.records import RunStatus, StepKind, StepStatus, step_hash

CALLS: dict[str, int] = {}


def _count(name: str) -> None:
    CALLS[name] = CALLS.get(name, 0) + 1


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    CALLS.clear()


@action(outputs=["data"], determinism="seeded")
def make_data(*, n: Annotated[int, Field(ge=1, le=1000)] = 5, ctx: ActionContext) -> list[int]:
    """Draw n seeded integers."""
    _count("make_data")
    return [ctx.random.randrange(1000) for _ in range(n)]


@action(outputs=["total"])
def add_up(data: list[int], *, scale: Annotated[float, Field(gt=0)] = 1.0) -> float:
    """Sum the data."""
    _count("add_up")
    return sum(data) * scale


@action(outputs=["report"])
def explode(total: float) -> str:
    """Always fails."""
    _count("explode")
    raise ValueError(f"cannot report {total}")


FLOW = workflow("tiny", [make_data, add_up], outputs=["total"])
FAILING = workflow("failing", [make_data, add_up, explode], outputs=["report"])


class Scripted:
    """A planner that returns the given decisions in order (then Done)."""

    name = "scripted"
    instant = True

    def __init__(
        self, decisions: list[Proposal | Done], hook: Callable[[RunState], None] | None = None
    ):
        self.decisions = list(decisions)
        self.hook = hook
        self.seen_feedback: list[str | None] = []

    def propose(self, state: RunState) -> Proposal | Done | NoProposal:
        self.seen_feedback.append(state.feedback)
        if self.hook:
            self.hook(state)
        return self.decisions.pop(0) if self.decisions else Done("script over")

    def config(self) -> dict[str, Any]:
        return {"name": self.name}


def test_rules_run_records_every_step_with_chained_hashes() -> None:
    store = MemoryStore()
    result = Engine(store).run(FLOW, planner=RulesPlanner(), seed=3)
    assert result.succeeded
    steps = store.steps(result.id)
    assert [s.action for s in steps] == ["make_data", "add_up"]
    assert all(s.status is StepStatus.SUCCEEDED and s.duration is not None for s in steps)
    assert steps[0].prev_hash == store.get_run(result.id).header_hash  # the chain's genesis
    assert steps[1].prev_hash == steps[0].hash
    assert all(step_hash(s) == s.hash for s in steps)
    assert steps[1].inputs == {"data": steps[0].outputs["data"]}
    assert result.outputs["total"] == sum(result_data(store, steps[0].outputs["data"]))
    run = store.get_run(result.id)
    assert run.status is RunStatus.SUCCEEDED
    assert run.outputs == {"total": steps[1].outputs["total"]}
    assert store.has_artifact(run.environment or "")


def result_data(store: MemoryStore, key: str) -> list[int]:
    from reprolam.codecs import default_serializer

    record, data = store.get_artifact(key)
    value: list[int] = default_serializer().loads_typed(record.codec, data)
    return value


def test_same_seed_same_hashes_different_seed_different_data() -> None:
    store = MemoryStore()
    engine = Engine(store)
    a = engine.run(FLOW, planner=RulesPlanner(), seed=1)
    b = engine.run(FLOW, planner=RulesPlanner(), seed=1)
    c = engine.run(FLOW, planner=RulesPlanner(), seed=2)
    outs = [[s.outputs for s in store.steps(r.id)] for r in (a, b, c)]
    assert outs[0] == outs[1]
    assert outs[0][0] != outs[2][0]
    assert [s.seed for s in a.steps] == [s.seed for s in b.steps]
    assert a.steps[0].seed != c.steps[0].seed


def test_step_is_recorded_as_started_before_the_action_runs() -> None:
    store = MemoryStore()
    seen: list[StepStatus] = []

    @action(outputs=["data"])
    def peek() -> int:
        (run,) = store.list_runs()
        seen.append(store.own_steps(run.id)[-1].status)
        return 1

    flow = workflow("peek", [peek], outputs=["data"])
    Engine(store).run(flow, planner=RulesPlanner())
    assert seen == [StepStatus.STARTED]


def test_failure_is_recorded_with_type_message_traceback_and_not_retried() -> None:
    store = MemoryStore()
    result = Engine(store).run(FAILING, planner=RulesPlanner())
    assert not result.succeeded
    failed = store.steps(result.id)[-1]
    assert failed.status is StepStatus.FAILED
    assert failed.error is not None
    assert failed.error.type == "ValueError"
    assert failed.error.message.startswith("cannot report")
    assert "raise ValueError" in failed.error.traceback
    assert failed.outputs == {}
    assert CALLS["explode"] == 1  # no implicit retry
    run = store.get_run(result.id)
    assert run.status is RunStatus.FAILED
    assert "explode" in (run.error or "")


def test_rejections_are_recorded_and_fed_back_to_the_planner() -> None:
    store = MemoryStore()
    planner = Scripted(
        [
            Proposal("nope"),
            Proposal("add_up"),  # input 'data' does not exist yet
            Proposal("make_data", params={"n": 0}),  # out of bounds
            Proposal("make_data", params={"n": 3}),
            Proposal("add_up", params={"scale": 2}),
        ]
    )
    result = Engine(store).run(FLOW, planner=planner)
    steps = store.steps(result.id)
    kinds = [(s.kind, s.action) for s in steps]
    assert kinds == [
        (StepKind.REJECTION, "nope"),
        (StepKind.REJECTION, "add_up"),
        (StepKind.REJECTION, "make_data"),
        (StepKind.ACTION, "make_data"),
        (StepKind.ACTION, "add_up"),
    ]
    reasons = [s.error.message for s in steps[:3] if s.error]
    assert "unknown action 'nope'" in reasons[0]
    assert "needs input 'data'" in reasons[1]
    assert "make_data.n=0" in reasons[2]
    assert "nope" in (planner.seen_feedback[1] or "")
    assert planner.seen_feedback[4] is None  # cleared after a successful step
    assert CALLS == {"make_data": 1, "add_up": 1}
    assert result.succeeded
    assert all(step_hash(s) == s.hash for s in steps)


def test_consecutive_rejection_budget_fails_the_run_with_the_reason() -> None:
    store = MemoryStore()
    planner = Scripted([Proposal("nope")] * 10)
    result = Engine(store).run(FLOW, planner=planner, policy=Policy(max_consecutive_rejections=3))
    assert result.run.status is RunStatus.FAILED
    assert "3 proposals rejected (or planner calls failed) in a row" in (result.run.error or "")
    assert len(store.steps(result.id)) == 3


def test_overrides_are_checked_before_anything_is_recorded() -> None:
    store = MemoryStore()
    engine = Engine(store)
    for bad, message in [
        ({"nope": {"x": 1}}, "unknown action 'nope'"),
        ({"add_up": {"gamma": 1}}, "add_up has no param gamma"),
        ({"add_up": {"scale": -1}}, "add_up.scale=-1"),
    ]:
        with pytest.raises(ConfigError, match=message):
            engine.run(FLOW, planner=RulesPlanner(), overrides=bad)
    assert store.list_runs() == []


def test_overrides_win_over_the_planner_and_are_recorded() -> None:
    store = MemoryStore()
    planner = ScriptPlanner(params={"add_up": {"scale": 5.0}})
    result = Engine(store).run(FLOW, planner=planner, overrides={"add_up": {"scale": 2.0}})
    step = store.steps(result.id)[1]
    assert step.params == {"scale": 2.0}
    assert step.proposal["params"] == {"scale": 5.0}
    assert step.proposal["overridden"] == ["scale"]
    assert store.get_run(result.id).overrides == {"add_up": {"scale": 2.0}}


def test_external_completion_is_committed_before_the_planner_is_asked_again() -> None:
    store = MemoryStore()

    @action(outputs=["receipt"], determinism="external", side_effects=["prints"])
    def publish() -> str:
        return "sent"

    def check(state: RunState) -> None:
        if state.steps:
            committed = store.own_steps(state.run_id)
            assert committed[-1].status is StepStatus.SUCCEEDED

    flow = workflow("ext", [publish], outputs=["receipt"])
    result = Engine(store).run(flow, planner=Scripted([Proposal("publish")], hook=check))
    assert result.succeeded


def test_an_interrupt_marks_the_run_interrupted_and_keeps_finished_steps() -> None:
    store = MemoryStore()

    @action(outputs=["boom"])
    def interrupt(total: float) -> None:
        raise KeyboardInterrupt

    flow = workflow("ctrl-c", [make_data, add_up, interrupt], outputs=["boom"])
    with pytest.raises(KeyboardInterrupt):
        Engine(store).run(flow, planner=RulesPlanner())
    (run,) = store.list_runs()
    assert run.status is RunStatus.INTERRUPTED
    steps = store.own_steps(run.id)
    assert [s.status for s in steps] == [
        StepStatus.SUCCEEDED,
        StepStatus.SUCCEEDED,
        StepStatus.STARTED,
    ]


def test_outputs_that_do_not_match_the_declaration_fail_the_step() -> None:
    @action(outputs=["a", "b"])
    def wrong() -> int:
        return 1

    store = MemoryStore()
    result = Engine(store).run(workflow("w", [wrong], outputs=["a"]), planner=RulesPlanner())
    step = result.steps[0]
    assert step.status is StepStatus.FAILED
    assert step.error is not None
    assert step.error.type == "OutputMismatch"
    assert "declares outputs ['a', 'b']" in step.error.message


def test_a_planner_consultation_without_proposal_is_a_recorded_decision() -> None:
    store = MemoryStore()
    planner = Scripted(
        [
            NoProposal("HTTP 500 from the model", error_type="APIError", decision={"attempt": 1}),
            Proposal("make_data"),
            Proposal("add_up"),
        ]
    )
    result = Engine(store).run(FLOW, planner=planner)
    assert result.succeeded
    first = store.steps(result.id)[0]
    assert first.kind is StepKind.DECISION
    assert first.status is StepStatus.FAILED
    assert first.error is not None
    assert (first.error.type, first.error.message) == ("APIError", "HTTP 500 from the model")
    assert first.proposal["decision"] == {"attempt": 1}
    assert "HTTP 500" in (planner.seen_feedback[1] or "")
    assert result.run.error is None
    assert first.duration == 0.0  # it said nothing of how long it took


def test_a_failed_llm_call_records_how_long_it_took() -> None:
    """A call that timed out after 3 s was recorded as taking 0.0 ms, starting when it
    ended; its decision's latency is the step's duration."""
    store = MemoryStore()
    failed = NoProposal("timed out", error_type="APITimeoutError", decision={"latency": 3.0412345})
    before = time.time()
    result = Engine(store).run(
        FLOW, planner=Scripted([failed, Proposal("make_data"), Proposal("add_up")])
    )
    first = store.steps(result.id)[0]
    assert first.duration == pytest.approx(3.0412345, abs=1e-6)
    assert first.started_at is not None
    assert first.started_at <= before - 3.0 + 0.5


def test_failed_consultations_count_towards_the_consecutive_budget() -> None:
    store = MemoryStore()
    planner = Scripted([NoProposal("timeout")] * 5)
    result = Engine(store).run(FLOW, planner=planner, policy=Policy(max_consecutive_rejections=2))
    assert result.run.status is RunStatus.FAILED
    assert "2 proposals rejected (or planner calls failed) in a row" in (result.run.error or "")


def test_installed_packages_agree_with_importlib_metadata() -> None:
    import re
    from importlib.metadata import distributions

    from reprolam.engine.environment import installed_packages

    expected: dict[str, str] = {}
    for dist in distributions():  # first on sys.path wins, like imports
        name = re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower()
        expected.setdefault(name, dist.version)
    found = installed_packages()
    assert found == dict(sorted(expected.items()))
    assert found["scikit-learn"]
    assert found["numpy"]


def test_a_checked_proposal_holds_the_validated_params_bound_inputs_and_overrides() -> None:
    state = RunState(workflow=FLOW, run_id="r", seed=0)
    state.artifacts["data"] = ArtifactRef("data", "ab" * 32, "json", 0)
    proposal = Proposal("add_up", params={"scale": 5.0})
    checked = Policy().check(proposal, state, {"add_up": {"scale": 2.0}})
    assert type(checked) is CheckedProposal
    assert checked.spec is FLOW.actions.get("add_up")
    assert checked.params == {"scale": 2.0}
    assert checked.inputs == {"data": "ab" * 32}
    assert checked.overridden == ("scale",)
    with pytest.raises(AttributeError):
        checked.params = {}  # type: ignore[misc]
    plain = Policy().check(Proposal("add_up"), state, {})
    assert (plain.params, plain.overridden) == ({"scale": 1.0}, ())


def test_on_step_hears_of_a_step_only_once_the_store_took_it() -> None:
    """A PostgreSQL server gone mid-run: the CLI printed ✓ for a step whose commit then
    failed, and the trace kept it as started."""

    class Outage(MemoryStore):
        def record(self, **kwargs: Any) -> None:
            steps = kwargs.get("steps", ())
            if any(s.action == "add_up" and s.status is StepStatus.SUCCEEDED for s in steps):
                raise StoreError("the server went away")
            super().record(**kwargs)

    store = Outage()
    heard: list[tuple[str, StepStatus]] = []
    with pytest.raises(StoreError, match="went away"):
        Engine(store).run(
            FLOW, planner=RulesPlanner(), on_step=lambda s: heard.append((s.action, s.status))
        )
    assert heard == [("make_data", StepStatus.SUCCEEDED)]
    (run,) = store.list_runs()
    assert [(s.action, s.status) for s in store.own_steps(run.id)] == [
        ("make_data", StepStatus.SUCCEEDED),
        ("add_up", StepStatus.STARTED),
    ]


def test_on_step_hears_of_every_finished_step_once_in_order() -> None:
    heard: list[int] = []
    result = Engine(MemoryStore()).run(
        FAILING, planner=RulesPlanner(), on_step=lambda s: heard.append(s.index)
    )
    assert heard == [s.index for s in result.steps]
