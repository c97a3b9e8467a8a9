"""The experiment: every paradigm N times, with the same seeds, planner and injected faults.

Trial ``t`` uses seed ``S + t`` for all three paradigms, and the paradigms take turns within
each trial, so a machine busy with something else slows them alike. Before the first trial
each paradigm runs once unmeasured (imports, first calls into scikit-learn), so no paradigm
pays the warm-up in its timings.

What happens in one trial of one paradigm:

1. the measured run (wall time, inside a ledger epoch: ground truth);
2. its record is checked against the ledger (``metrics``);
3. reproduction by the paradigm's own means -- script and naive LAM: run again with the same
   seed; R-LAM: ``replay`` (nothing may execute: counted twice, by the ledger and by a code
   watcher) and, separately, ``reproduce`` (re-execution, decisions from the trace);
4. fork cost: change ``train_model.C`` afterwards -- R-LAM: ``fork(..., at="train_model")``;
   the others: run everything again with the new value;
5. R-LAM only: ``reprolam audit`` of the run, reported next to the ground-truth figures.

**Planner sampling.** The simulated planner stands in for a sampling LLM, and its seed for
the LLM's sampling randomness. On a first run the naive LAM and R-LAM get the same sampling
seed (the trial seed), so they execute the same plans: a controlled comparison. A planner
consulted again is a new sample -- an LLM's sampling cannot be replayed by whoever did not
record its choices -- so the naive LAM's rerun and its "fork" (a whole new run) consult a
planner with a fresh sampling seed (same class, same rates). R-LAM's ``reproduce`` consults
no planner, and its fork replays the recorded decisions after the fork point
(``replay_decisions``): both read the planner's choices from the trace.
``reproducibility_seeded_planner`` reports what the naive LAM's rerun would give if the
planner's sampling could be fixed, which real LLM APIs do not guarantee. With ``--planner
llm`` every consultation is a real request and no seed is varied.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reprolam.context import derive_seed
from reprolam.engine.engine import Engine
from reprolam.errors import ConfigError
from reprolam.experiments import metrics as m
from reprolam.experiments.ledger import Call, Ledger, watch_code
from reprolam.experiments.pipelines import (
    PARADIGMS,
    Outcome,
    run_naive,
    run_rlam,
    run_script,
)
from reprolam.history.fork import fork
from reprolam.history.replay import replay
from reprolam.history.reproduce import reproduce
from reprolam.planning.base import Planner
from reprolam.planning.choose import PlannerChoice, choose_planner
from reprolam.planning.simulated import SimulatedPlanner
from reprolam.trace.contract import TraceStore
from reprolam.trace.memory import MemoryStore
from reprolam.trace.records import StepKind
from reprolam.trace.sqlite import SQLiteStore
from reprolam.trace.stored_json import load_json
from reprolam.workflows.registry import Workflow, load_workflow

WORKFLOW = "breast-cancer"
FORK_ACTION = "train_model"

Progress = Callable[[str, int], None]  # called with (paradigm, trial) after each measurement


@dataclass(frozen=True)
class ExperimentConfig:
    trials: int = 20
    seed: int = 0
    faults: Mapping[str, float] = field(default_factory=dict)
    planner: str = "simulated"  # simulated | llm
    model: str | None = None
    base_url: str | None = None
    fork_C: float = 0.01  # the value the fork-cost measurement gives train_model.C

    def to_dict(self) -> dict[str, Any]:
        return {
            "trials": self.trials,
            "seed": self.seed,
            "seeds": [self.seed, self.seed + self.trials - 1],
            "faults": dict(self.faults),
            "planner": self.planner,
            "model": self.model,
            "fork": {"action": FORK_ACTION, "param": "C", "value": self.fork_C},
            "workflow": WORKFLOW,
        }


@dataclass
class Experiment:
    """Everything ``results.json`` holds."""

    config: ExperimentConfig
    planner: dict[str, Any]  # the planner's recorded config, and why it was chosen
    trials: list[m.TrialFigures]
    summary: dict[str, dict[str, Any]]  # paradigm -> metrics.summarize()
    environment: dict[str, Any]
    command: str
    argv: list[str]
    store: str  # where R-LAM's runs are recorded
    started_at: float
    seconds: float
    injections: int  # the injector's own count, over every phase

    def by_paradigm(self, paradigm: str) -> list[m.TrialFigures]:
        return [t for t in self.trials if t.paradigm == paradigm]


def run_experiment(
    config: ExperimentConfig,
    *,
    out: Path,
    command: str = "",
    progress: Progress | None = None,
    planner: PlannerChoice | None = None,
) -> Experiment:
    """Run every paradigm ``config.trials`` times; R-LAM records into ``out/store``.

    ``planner``: the planner already chosen for ``config`` (else chosen here).
    """
    started_at, started = time.time(), time.perf_counter()
    choice = planner or choose_planner(config.planner, model=config.model, base_url=config.base_url)
    ledger = Ledger(config.faults)
    base = load_workflow(WORKFLOW)
    flow = ledger.workflow(base)
    # before the store exists: a planner that cannot be reached leaves no store behind
    _warm_up(ledger, flow, choice.planner, config.seed)
    store_path = out / "store"
    store = SQLiteStore(store_path)
    try:
        trials = _Trials(ledger, flow, base, choice.planner, store, config)
        figures: list[m.TrialFigures] = []
        for t in range(config.trials):
            for paradigm in PARADIGMS:
                figures.append(trials.measure(paradigm, t, config.seed + t))
                if progress is not None:
                    progress(paradigm, t)
    finally:
        store.close()
    summary = {p: m.summarize([f for f in figures if f.paradigm == p]) for p in PARADIGMS}
    script_mean = summary["script"]["seconds_mean"]
    for values in summary.values():
        mean = values["seconds_mean"]
        values["time_ratio"] = mean / script_mean if mean and script_mean else None
    return Experiment(
        config=config,
        planner={"config": choice.planner.config(), "reason": choice.reason},
        trials=figures,
        summary=summary,
        environment=_environment(),
        command=command,
        argv=list(sys.argv),
        store=str(store_path),
        started_at=started_at,
        seconds=time.perf_counter() - started,
        injections=ledger.injections,
    )


def _warm_up(ledger: Ledger, flow: Workflow, planner: Planner, seed: int) -> None:
    """Run each paradigm once, unmeasured; ``ConfigError`` if the planner led to no action.

    A planner that cannot be reached (an LLM server that is down, a wrong base URL) would
    make every LAM trial end before its first action: a comparison of nothing, reported as
    the LAMs' failure. It is named here instead, before any trial runs.
    """
    with ledger.epoch("script", -1, "warmup", seed):
        run_script(flow, seed=seed)
    with ledger.epoch("naive-lam", -1, "warmup", seed):
        run_naive(flow, planner, seed=seed)
    with ledger.epoch("r-lam", -1, "warmup", seed) as calls:
        outcome = run_rlam(Engine(MemoryStore()), flow, planner, seed=seed)
    steps = outcome.result.steps if outcome.result is not None else ()
    if not calls and all(s.kind is StepKind.DECISION for s in steps):
        raise ConfigError(
            f"the planner proposed no action in the warm-up run ({outcome.stop_reason}): "
            "no trial could compare anything; check the planner's endpoint and model"
        )


def _environment() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        **m.environment_truth(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": list(load) if load else None,
        "host": socket.gethostname(),
    }


class _Trials:
    def __init__(
        self,
        ledger: Ledger,
        flow: Workflow,
        base: Workflow,
        planner: Planner,
        store: TraceStore,
        config: ExperimentConfig,
    ) -> None:
        self.ledger = ledger
        self.flow = flow  # the counted workflow every pipeline runs
        self.raw = {spec.name: spec.fn for spec in base.actions}  # for the code watcher
        self.planner = planner
        self.store = store
        self.engine = Engine(store)
        self.config = config
        self.truth = m.environment_truth()

    def measure(self, paradigm: str, trial: int, seed: int) -> m.TrialFigures:
        if paradigm == "script":
            return self._script(trial, seed)
        if paradigm == "naive-lam":
            return self._naive(trial, seed)
        return self._rlam(trial, seed)

    def resampled(self, seed: int, attempt: int) -> Planner:
        """The planner consulted anew: a fresh sampling seed for the simulated planner."""
        planner = self.planner
        if isinstance(planner, SimulatedPlanner):
            rates = {k: float(v) for k, v in planner.rates.items()}
            return SimulatedPlanner(
                seed=derive_seed(seed, "resample", attempt),
                grids=planner.grids or None,
                **rates,
            )
        return planner

    # -- the three paradigms -------------------------------------------------------------------

    def _script(self, trial: int, seed: int) -> m.TrialFigures:
        with self.ledger.epoch("script", trial, "run", seed, keep_values=True) as calls:
            started = time.perf_counter()
            outcome = run_script(self.flow, seed=seed)
            seconds = time.perf_counter() - started
        self.ledger.settle(calls)
        lines = outcome.text  # the traceback it prints when it fails; it logs nothing else
        env = m.text_environment(lines, self.truth)
        figures = self._figures("script", trial, seed, seconds, outcome, calls)
        figures.fields = [m.text_fields(c, lines, env) for c in calls]
        figures.visible = sum(m.log_visible(c, outcome.records) for c in calls if c.injected)
        figures.mentioned = sum(m.text_mentions(c, lines) for c in calls if c.injected)
        if figures.task_success:
            with self.ledger.epoch("script", trial, "rerun", seed):
                again = run_script(self.flow, seed=seed)
            figures.reproduced = figures.reexecuted = self._same(again, figures.outputs)
            with self.ledger.epoch("script", trial, "fork", seed) as forked:
                changed = run_script(self.flow, seed=seed, C=self.config.fork_C)
            self._fork_figures(figures, calls, forked, changed)
        return self._finish(figures)

    def _naive(self, trial: int, seed: int) -> m.TrialFigures:
        with self.ledger.epoch("naive-lam", trial, "run", seed, keep_values=True) as calls:
            started = time.perf_counter()
            outcome = run_naive(self.flow, self.planner, seed=seed)
            seconds = time.perf_counter() - started
        self.ledger.settle(calls)
        env = m.text_environment(outcome.text, self.truth)
        figures = self._figures("naive-lam", trial, seed, seconds, outcome, calls)
        figures.fields = [m.text_fields(c, outcome.text, env) for c in calls]
        figures.visible = sum(m.log_visible(c, outcome.records) for c in calls if c.injected)
        figures.mentioned = sum(m.text_mentions(c, outcome.text) for c in calls if c.injected)
        if figures.task_success:
            with self.ledger.epoch("naive-lam", trial, "rerun", seed):
                again = run_naive(self.flow, self.resampled(seed, 1), seed=seed)
            figures.reproduced = figures.reexecuted = self._same(again, figures.outputs)
            if isinstance(self.planner, SimulatedPlanner):
                with self.ledger.epoch("naive-lam", trial, "rerun-seeded", seed):
                    same_sample = run_naive(self.flow, self.planner, seed=seed)
                figures.reproduced_seeded_planner = self._same(same_sample, figures.outputs)
            overrides = {FORK_ACTION: {"C": self.config.fork_C}}
            with self.ledger.epoch("naive-lam", trial, "fork", seed) as forked:
                changed = run_naive(
                    self.flow, self.resampled(seed, 2), seed=seed, overrides=overrides
                )
            self._fork_figures(figures, calls, forked, changed)
        return self._finish(figures)

    def _rlam(self, trial: int, seed: int) -> m.TrialFigures:
        with self.ledger.epoch("r-lam", trial, "run", seed, keep_values=True) as calls:
            started = time.perf_counter()
            outcome = run_rlam(self.engine, self.flow, self.planner, seed=seed)
            seconds = time.perf_counter() - started
        self.ledger.settle(calls)
        assert outcome.result is not None
        run_id = outcome.result.id
        steps = self.store.steps(run_id)  # the record as stored, read back
        run = self.store.get_run(run_id)
        env = m.environment_recorded(load_json(self.store, run.environment), self.truth)
        matched = m.match_steps(calls, steps)
        lines = m.trace_text(steps)
        figures = self._figures("r-lam", trial, seed, seconds, outcome, calls)
        figures.run_id = run_id
        figures.fields = [m.trace_fields(c, s, env) for c, s in zip(calls, matched, strict=True)]
        figures.visible = sum(
            m.trace_visible(c, s) for c, s in zip(calls, matched, strict=True) if c.injected
        )
        figures.mentioned = sum(m.text_mentions(c, lines) for c in calls if c.injected)

        started = time.perf_counter()
        replayed = replay(self.store, run_id)
        figures.replay_seconds = time.perf_counter() - started
        # again, watched: the ledger sees calls of the wrapped functions, the code watcher any
        # execution of the original functions' code, however it would be reached
        with (
            self.ledger.epoch("r-lam", trial, "replay", seed) as replay_calls,
            watch_code(self.raw) as executed,
        ):
            watched = replay(self.store, run_id)
        figures.replay_calls = len(replay_calls) + sum(executed.values())
        figures.reproduced = (
            replayed.verified
            and watched.verified
            and figures.replay_calls == 0
            and self._same(Outcome(replayed.outputs), figures.outputs)
        )
        with self.ledger.epoch("r-lam", trial, "reproduce", seed):
            reproduced = reproduce(self.store, run_id, workflow=self.flow)
        again = reproduced.reproduction
        figures.reexecuted = (
            reproduced.bitwise
            and again is not None
            and bool(figures.outputs)
            and {k: again.outputs.get(k) for k in figures.outputs} == figures.outputs
        )
        if figures.task_success and any(c.action == FORK_ACTION for c in calls):
            with self.ledger.epoch("r-lam", trial, "fork", seed) as forked:
                # the recorded decisions after the fork point are replayed (its record of
                # the planner's choices), so only the change differs from the parent
                changed = fork(
                    self.store,
                    run_id,
                    at=FORK_ACTION,
                    overrides={FORK_ACTION: {"C": self.config.fork_C}},
                    planner=self.planner,
                    replay_decisions=True,
                    workflow=self.flow,
                )
            self._fork_figures(figures, calls, forked, Outcome(dict(changed.outputs)))
        figures.audit = self._audit(run_id)
        return self._finish(figures)

    # -- shared ----------------------------------------------------------------------------------

    def _figures(
        self,
        paradigm: str,
        trial: int,
        seed: int,
        seconds: float,
        outcome: Outcome,
        calls: Sequence[Call],
    ) -> m.TrialFigures:
        outputs = self._fingerprint(outcome)
        sequence, hyperparameters = m.plan_of(calls)
        return m.TrialFigures(
            paradigm=paradigm,
            trial=trial,
            seed=seed,
            seconds=seconds,
            task_success=bool(outputs),
            outputs=outputs,
            outputs_grounded=m.grounded(outputs, calls),
            stop_reason=outcome.stop_reason,
            attempts=len(calls),
            executed=sum(c.executed for c in calls),
            injected=sum(c.injected for c in calls),
            sequence=sequence,
            failed_attempts=[i for i, c in enumerate(calls) if c.failed],
            hyperparameters=hyperparameters,
            fields=[],
            complete=0,
            visible=0,
            mentioned=0,
        )

    def _finish(self, figures: m.TrialFigures) -> m.TrialFigures:
        figures.complete = sum(all(f.values()) for f in figures.fields)
        return figures

    def _fingerprint(self, outcome: Outcome) -> dict[str, str]:
        """Digests of the final outputs, only when all of them exist (else {})."""
        names = self.flow.outputs
        if not all(name in outcome.outputs for name in names):
            return {}
        return {name: self.ledger.digest(outcome.outputs[name]) for name in names}

    def _same(self, outcome: Outcome, digests: Mapping[str, str]) -> bool:
        return bool(digests) and self._fingerprint(outcome) == digests

    def _fork_figures(
        self,
        figures: m.TrialFigures,
        original: Sequence[Call],
        forked: Sequence[Call],
        changed: Outcome,
    ) -> None:
        figures.fork_calls = len(forked)
        figures.fork_base = len({c.action for c in original if not c.failed})
        model = changed.outputs.get("model")
        figures.fork_ok = "metrics" in changed.outputs and (
            getattr(model, "C", None) == self.config.fork_C
        )

    def _audit(self, run_id: str) -> dict[str, Any] | None:
        """reprolam's own audit of the run, reported next to the ground-truth figures."""
        try:
            from reprolam.history.audit import audit
        except ImportError:  # the audit module is optional for the experiment
            return None
        report = audit(self.store, run_id)
        least, mean = report.completeness.fields_per_action
        return {
            "trace_completeness": report.completeness.ratio,
            "failure_visibility": report.failures.ratio,
            "fields_per_action_min": least,
            "fields_per_action_mean": mean,
            "clean": report.clean,
            "problems": [p.message for p in report.problems],
        }


def describe_faults(faults: Mapping[str, float]) -> str:
    return ", ".join(f"{a}:{r:g}" for a, r in faults.items()) or "none"
