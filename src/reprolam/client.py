"""The client: one object bound to a store that serves every verb (the CLI is a shell on it).

Example::

    import reprolam

    with reprolam.open(".reprolam") as rl:
        run = rl.run("breast-cancer", seed=0)
        print(run.metrics["accuracy"])
        fork = run.fork(at="train_model", set={"train_model.C": 0.01})
        print(rl.reproduce(run.id).summary(), rl.audit(fork.id).clean)
        print(rl.diff(run.id, fork.id).metrics)

Module-level functions (``reprolam.run``, ``reprolam.fork``, ...) do the same with
``store=`` (a path, a DSN, ``"memory:"``, an open store or a client) by keyword.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reprolam.brief import run_words, trace_text
from reprolam.errors import ConfigError, NotFoundError
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import RunRecord, StepRecord

if TYPE_CHECKING:
    from reprolam.codecs import Serializer
    from reprolam.engine.engine import RunResult, StepCallback
    from reprolam.engine.executors import Executor
    from reprolam.engine.inputs import GivenInputs, InputChange, RecordedInput
    from reprolam.engine.manual import ManualRun
    from reprolam.engine.policy import Policy
    from reprolam.history.audit import AuditReport
    from reprolam.history.comparison import RunComparison
    from reprolam.history.diff import RunDiff
    from reprolam.history.replay import ReplayResult
    from reprolam.history.reproduce import ReproduceResult
    from reprolam.history.sweep import SweepPoint, SweepResult
    from reprolam.planning.base import Planner
    from reprolam.planning.choose import LLMSettings, PlannerChoice
    from reprolam.provenance import ImportReport
    from reprolam.provenance._import import VerifiedCrate
    from reprolam.results import GotArtifact
    from reprolam.trace.queries import Annotation, RunPage, RunQuery
    from reprolam.workflows.registry import Workflow

RunRef = str | RunRecord  # a full id, a unique prefix, or a run record
Overrides = Mapping[str, Any]  # {"train_model.C": 0.1} or {"train_model": {"C": 0.1}}


@dataclass(frozen=True, slots=True)
class RunView:
    """A recorded run with its whole trace, as ``reprolam show`` presents it.

    As stored: nothing is re-hashed (a damaged record is marked as such, an edited one is
    not). ``replay`` and ``audit`` verify; ``to_dict`` says ``"verified": null``.
    """

    run: RunRecord
    steps: list[StepRecord]
    metrics: dict[str, Any] | None
    # step index -> what its action printed and warned (stdout, stderr, warnings)
    captured: dict[int, dict[str, Any]] = field(default_factory=dict)
    inputs: list[RecordedInput] = field(default_factory=list)  # the data it was given

    def inherited(self, step: StepRecord) -> bool:
        return self.run.fork_index is not None and step.index < self.run.fork_index

    def __repr__(self) -> str:
        return f"<RunView {run_words(self.run)}, {len(self.steps)} steps>"

    def __str__(self) -> str:
        return trace_text(self.run, self.steps, self.metrics)

    def _repr_html_(self) -> str:
        from reprolam.notebook import run_view_html

        return run_view_html(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run.to_dict(),
            "steps": [
                {
                    **s.to_dict(),
                    "inherited": self.inherited(s),
                    "captured": self.captured.get(s.index),
                    "effects": s.proposal.get("observed", {}).get("effects", []),
                }
                for s in self.steps
            ],
            "metrics": self.metrics,
            "inputs": {i.name: i.to_dict() for i in self.inputs},
            "verified": None,  # not checked: see the class docstring
        }


class Client:
    """Every verb over one store. Use as a context manager, or call ``close()``.

    ``trusted=True`` lets artifacts that need trust (pickles, non-scikit-learn model
    classes) be loaded; only for stores whose contents you trust.
    """

    def __init__(self, store: TraceStore, *, trusted: bool = False, owned: bool = True) -> None:
        self.store = store
        self.trusted = trusted
        self._owned = owned

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        if self._owned:
            self.store.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<reprolam.Client {self.store.location}>"

    # -- executing verbs ----------------------------------------------------------------------

    def run(
        self,
        workflow: str | Workflow | None = None,
        *,
        planner: str | Planner = "auto",
        seed: int = 0,
        set: Overrides | None = None,
        overrides: Overrides | None = None,
        policy: Policy | Mapping[str, Any] | None = None,
        executor: Executor | str | Mapping[str, Any] | None = None,
        llm: LLMSettings | None = None,
        reuse: bool = False,
        on_step: StepCallback | None = None,
        on_plan: Callable[[PlannerChoice], None] | None = None,
        inputs: GivenInputs | None = None,
    ) -> RunResult:
        """Plan, execute and record one run of ``workflow`` (default: ``breast-cancer``).

        ``set``/``overrides`` force params (``{"train_model.C": 0.1}``); ``policy`` is a
        ``Policy`` or changes to the default one (``{"retries": 1}``); ``executor`` a name
        (``"process"``), a config or an instance. ``reuse`` takes the recorded outputs of any
        step in the store with the same cache key instead of executing it (recorded as reused).
        ``on_plan`` hears which planner was chosen and why before the first step. ``inputs``
        gives the workflow's external data: a path (``{"table": "data.csv"}``), an
        ``InputData(path, copy=False)`` to record only digests, or a value (an array, a frame).
        """
        from reprolam.engine.cache import StepCache
        from reprolam.engine.engine import Engine
        from reprolam.engine.policy import Policy
        from reprolam.history.rebuild import with_changes
        from reprolam.planning.choose import PlannerChoice, choose_planner, refuse_non_planner
        from reprolam.workflows.registry import load_workflow

        flow = load_workflow(workflow)
        if isinstance(planner, str):
            choice = choose_planner(planner, llm=llm)
        else:
            refuse_non_planner(planner)
            choice = PlannerChoice(planner, f"given: {type(planner).__name__}")
        if on_plan is not None:
            on_plan(choice)
        if not isinstance(policy, Policy):
            policy = with_changes(Policy(), policy)
        with Engine(self.store, serializer=self._serializer(), executor=executor) as engine:
            result = engine.run(
                flow,
                planner=choice.planner,
                seed=seed,
                policy=policy,
                overrides=parse_overrides(set, overrides),
                on_step=on_step,
                inputs=inputs,
                cache=StepCache(reuse=True, store=self.store) if reuse else None,
            )
        return self._bind(result)

    def fork(
        self,
        run: RunRef,
        *,
        at: int | str,
        set: Overrides | None = None,
        overrides: Overrides | None = None,
        planner: str | Planner | None = None,
        replay_decisions: bool = False,
        reuse: bool = False,
        workflow: str | Workflow | None = None,
        policy: Policy | Mapping[str, Any] | None = None,
        executor: Executor | str | Mapping[str, Any] | None = None,
        llm: LLMSettings | None = None,
        on_step: StepCallback | None = None,
    ) -> RunResult:
        """A new run inheriting ``run``'s steps before ``at`` by reference, executed from there.

        ``at`` is a step index or an action name (its first execution). The planner, policy
        and executor default to the parent's.
        """
        from reprolam.history.fork import fork

        result = fork(
            self.store,
            self._run_id(run),
            at=at,
            overrides=parse_overrides(set, overrides),
            planner=planner,
            replay_decisions=replay_decisions,
            reuse=reuse,
            workflow=workflow,
            policy=policy,
            executor=executor,
            llm=llm,
            serializer=self._serializer(),
            trusted=self.trusted,
            on_step=on_step,
        )
        return self._bind(result)

    def sweep(
        self,
        run: RunRef,
        *,
        at: int | str,
        grid: Mapping[str, Sequence[Any]] | Sequence[str] | None = None,
        space: Mapping[str, Sequence[Any]] | Sequence[str] | None = None,
        random: int | None = None,
        optuna: int | None = None,
        direction: str | None = None,
        seed: int = 0,
        set: Overrides | None = None,
        jobs: int = 1,
        reuse: bool = False,
        metric: str | None = None,
        workflow: str | Workflow | None = None,
        policy: Policy | Mapping[str, Any] | None = None,
        executor: Executor | str | Mapping[str, Any] | None = None,
        on_point: Callable[[SweepPoint], None] | None = None,
        llm: LLMSettings | None = None,
    ) -> SweepResult:
        """One fork of ``run`` at ``at`` per point, ``jobs`` at a time, grouped under a sweep id.

        ``grid`` is ``{"train_model.C": [0.01, 0.1, 1]}`` (or ``["train_model.C=0.01,0.1,1"]``):
        every combination. Or ``random`` points drawn from ``space``
        (``{"train_model.C": (0.001, 10, "log")}`` or ``["train_model.C=0.001:10:log"]``) with
        ``seed``. ``set`` forces params in every point (``{"train_model.max_iter": 500}``).
        ``reuse`` takes recorded outputs from any step in the store with the same cache key.
        ``metric`` names the headline metric (default: the first one).
        ``optuna=N`` runs N trials of a TPE study seeded with ``seed`` over ``space``
        (``reprolam[optuna]``), optimizing the headline metric in ``direction``
        (``"maximize"``, ``"minimize"``; default: minimize for losses and errors, else
        maximize); ``study(sweep_id)`` rebuilds the study from the store. ``llm``: the
        endpoint and sampling when the run's planner is an LLM (as for ``fork``).
        """
        from reprolam.history.sweep import sweep
        from reprolam.history.sweep_space import axes_of

        grid_axes, space_axes = axes_of(grid, space)
        return sweep(
            self.store,
            self._run_id(run),
            at=at,
            grid=grid_axes,
            space=space_axes,
            random=random,
            optuna=optuna,
            direction=direction,
            seed=seed,
            overrides=parse_overrides(set),
            jobs=jobs,
            reuse=reuse,
            metric=metric,
            workflow=workflow,
            policy=policy,
            executor=executor,
            serializer=self._serializer(),
            trusted=self.trusted,
            on_point=on_point,
            llm=llm,
        )

    def study(self, sweep_id: str) -> Any:
        """The ``optuna.Study`` of a recorded ``optuna`` sweep, rebuilt from its forks: every
        trial with its params and value, and the recorded sampler (``reprolam[optuna]``)."""
        from reprolam.history.sweep_optuna import study_of

        return study_of(self.store, sweep_id)

    def reproduce(
        self,
        run: RunRef,
        *,
        rtol: float | None = None,
        workflow: str | Workflow | None = None,
        policy: Policy | Mapping[str, Any] | None = None,
        executor: Executor | str | Mapping[str, Any] | None = None,
        on_step: StepCallback | None = None,
        on_input_change: Callable[[InputChange], None] | None = None,
    ) -> ReproduceResult:
        """Re-execute ``run`` from its recorded decisions and compare every output hash.

        Inputs whose recorded path now holds other content are named (``on_input_change``)
        before anything executes.
        """
        from reprolam.history.reproduce import reproduce

        return reproduce(
            self.store,
            self._run_id(run),
            rtol=rtol,
            workflow=workflow,
            policy=policy,
            executor=executor,
            on_step=on_step,
            serializer=self._serializer(),
            trusted=self.trusted,
            on_input_change=on_input_change,
        )

    def resume(
        self,
        run: RunRef,
        *,
        force: bool = False,
        planner: str | Planner | None = None,
        workflow: str | Workflow | None = None,
        policy: Policy | Mapping[str, Any] | None = None,
        executor: Executor | str | Mapping[str, Any] | None = None,
        llm: LLMSettings | None = None,
        on_step: StepCallback | None = None,
    ) -> RunResult:
        """Continue an interrupted run from its last committed step."""
        from reprolam.history.resume import resume

        result = resume(
            self.store,
            self._run_id(run),
            force=force,
            planner=planner,
            workflow=workflow,
            policy=policy,
            executor=executor,
            llm=llm,
            serializer=self._serializer(),
            trusted=self.trusted,
            on_step=on_step,
        )
        return self._bind(result)

    def manual_run(
        self, run: RunRef | None = None, *, name: str = "manual", seed: int = 0
    ) -> ManualRun:
        """A run built by hand in this store (``ManualRun``): record ``reprolam.execute``
        results as labelled steps with control edges; with ``run``, that recorded run.
        """
        from reprolam.engine.manual import ManualRun

        if run is not None:
            return ManualRun.open(self.store, self._run_id(run), serializer=self._serializer())
        return ManualRun(self.store, name=name, seed=seed, serializer=self._serializer())

    # -- reading verbs ------------------------------------------------------------------------

    def replay(
        self, run: RunRef, *, step: int | None = None, workflow: str | None = None
    ) -> ReplayResult:
        """Rebuild ``run``'s outputs from the store, verifying every hash, executing nothing.

        ``workflow`` (a workflow file, ``module:attr``) is imported first, no action run: a
        trusted pickle of a class that file defines is then loaded (without it, it is not)."""
        from reprolam.codecs._pickle import main_stands_in
        from reprolam.history.replay import replay
        from reprolam.workflows.registry import load_workflow

        run_id = self._run_id(run)
        if workflow is None:
            return replay(self.store, run_id, step=step, serializer=self._serializer())
        loaded = load_workflow(workflow)
        # a script's run pickled its classes as __main__'s: the file given defines them
        first = next(iter(loaded.actions), None)
        module = sys.modules.get(first.fn.__module__) if first is not None else None
        if module is None:
            return replay(self.store, run_id, step=step, serializer=self._serializer())
        with main_stands_in(module):
            return replay(self.store, run_id, step=step, serializer=self._serializer())

    def audit(self, run: RunRef) -> AuditReport:
        """Check ``run``: completeness, hash chain, artifacts, lineage, failures."""
        from reprolam.history.audit import audit

        return audit(self.store, self._run_id(run))

    def diff(self, a: RunRef, b: RunRef) -> RunDiff:
        """Compare two runs step by step."""
        from reprolam.history.diff import diff_runs

        return diff_runs(self.store, self._run_id(a), self._run_id(b))

    def export(
        self,
        run: RunRef,
        *,
        format: str,
        output: str | os.PathLike[str] | None = None,
        license: str | None = None,
        max_file_bytes: int | None = None,
    ) -> Path | str:
        """``run`` as W3C PROV, an RO-Crate or a picture; the text, or the path written."""
        from reprolam.provenance import export_run

        return export_run(
            self.store,
            self._run_id(run),
            format=format,
            output=output,
            license=license,
            max_file_bytes=max_file_bytes,
        )

    def import_crate(self, crate: str | os.PathLike[str] | VerifiedCrate) -> ImportReport:
        """Verify an exported RO-Crate (directory or .zip; or one ``verify_crate`` read) and
        load its run into this store."""
        from reprolam.provenance import import_crate

        return import_crate(self.store, crate)

    def runs(self, *, limit: int | None = None) -> list[RunRecord]:
        """Recorded runs, newest first (``query`` filters them by tag or metric)."""
        if limit is not None and (type(limit) is not int or limit < 0):
            raise ConfigError(f"{{limit={limit!r}}}: how many runs to list, 0 or more")
        return self.store.list_runs(limit=limit)

    def show(self, run: RunRef) -> RunView:
        """A run with its whole trace and its headline metrics."""
        from reprolam.engine.inputs import run_inputs
        from reprolam.history.metrics import final_metrics
        from reprolam.history.observed import captured_outputs

        record = self.store.get_run(self._run_id(run))
        steps = self.store.steps(record.id)
        return RunView(
            record,
            steps,
            final_metrics(self.store, record),
            captured_outputs(self.store, steps),
            run_inputs(self.store, record),
        )

    def metrics(self, run: RunRef) -> dict[str, Any] | None:
        """The run's headline metrics (the output its workflow declares as ``metrics``)."""
        from reprolam.history.metrics import final_metrics

        return final_metrics(self.store, self.store.get_run(self._run_id(run)))

    def tag(self, run: RunRef, *names: str) -> list[Annotation]:
        """Tag a run (kept beside its trace: no hash changes); returns its annotations."""
        from reprolam.history.annotate import tag

        return tag(self.store, self._run_id(run), names)

    def note(self, run: RunRef, text: str) -> list[Annotation]:
        """Attach a note to a run (beside its trace); returns its annotations."""
        from reprolam.history.annotate import note

        return note(self.store, self._run_id(run), text)

    def compare(self, *runs: RunRef) -> RunComparison:
        """Runs side by side: seed, planner, every param and headline metric.

        A sweep id (or a unique prefix of one) stands for every point of that sweep.
        """
        from reprolam.history.comparison import compare_runs
        from reprolam.history.sweep import run_or_sweep_ids

        return compare_runs(self.store, run_or_sweep_ids(self.store, [_id(r) for r in runs]))

    def query(self, query: RunQuery | None = None, **filters: Any) -> RunPage:
        """One page of runs by filters (``RunQuery`` fields: tag, workflow, metric, ...)."""
        from reprolam.trace.queries import RunQuery

        return self.store.query_runs(query or RunQuery(**filters))

    # -- internals ----------------------------------------------------------------------------

    def get(
        self,
        run: RunRef,
        name: str,
        *,
        out: str | os.PathLike[str] | None = None,
        as_: str | None = None,
    ) -> GotArtifact:
        """Write ``run``'s artifact ``name`` (or ``STEP.NAME``) to ``out`` in an open format.

        One artifact read and its digest check; nothing is replayed (``reprolam.results``).
        """
        from reprolam.results import get_artifact

        return get_artifact(
            self.store, self._run_id(run), name, out=out, as_=as_, serializer=self._serializer()
        )

    def _run_id(self, run: RunRef) -> str:
        """The full id of ``run`` (an id or a unique prefix); a sweep's id is refused as such."""
        ref = _id(run)
        try:
            return self.store.resolve_run_id(ref)
        except NotFoundError as missing:
            from reprolam.history.sweep import sweep_not_run

            instead = sweep_not_run(self.store, ref)
            if instead is None:
                raise
            raise instead from missing

    def _serializer(self) -> Serializer:
        from reprolam.codecs import default_serializer

        return default_serializer(trusted=self.trusted)

    def _bind(self, result: RunResult) -> RunResult:
        return replace(result, metrics=self.metrics(result.run), client=self)


def open(
    store: TraceStore | str | os.PathLike[str] | None = None,
    *,
    artifacts: str | os.PathLike[str] | None = None,
    trusted: bool = False,
    create: bool = True,
) -> Client:
    """A client over the store at ``store``: a directory (SQLite), ``"memory:"``, or a
    ``postgresql://`` DSN with ``artifacts``. ``None``: ``$REPROLAM_STORE``, else ``./.reprolam``.
    An already open ``TraceStore`` is used as is (and not closed by the client).
    ``create=False`` refuses a store that is not there yet (``NotFoundError``).
    """
    if isinstance(store, TraceStore):
        return Client(store, trusted=trusted, owned=False)
    from reprolam.trace.open import open_store

    return Client(open_store(store, artifacts=artifacts, create=create), trusted=trusted)


@contextmanager
def using(
    store: Client | TraceStore | str | os.PathLike[str] | None, *, create: bool = True
) -> Iterator[Client]:
    """The one way module-level verbs get a client: a given client is used and left open.
    ``create=False`` (verbs that read a store's runs) refuses a store that is not there."""
    if isinstance(store, Client):
        yield store
        return
    if not isinstance(store, TraceStore):
        from reprolam.trace.open import refuse_dsn_without_artifacts

        refuse_dsn_without_artifacts(store, "the module-level verbs (reprolam.run(store=...), ...)")
    client = open(store, create=create)
    try:
        yield client
    finally:
        client.close()


def parse_overrides(*sources: Overrides | None) -> dict[str, dict[str, Any]]:
    """Merge overrides given as ``{"a.p": v}``, ``{"a": {"p": v}}`` or ``["a.p=v"]`` lists;
    a param given two different values (``--set a.p=1 --set a.p=2``) is refused."""
    from reprolam.engine.policy import parse_override

    merged: dict[str, dict[str, Any]] = {}

    def put(action: str, param: str, value: Any) -> None:
        params = merged.setdefault(action, {})
        if param in params and not _same_value(params[param], value):
            raise ConfigError(
                f"{{set}} {action}.{param} is given twice ({params[param]!r} and {value!r})",
                option="overrides",
                hint="give each param one value",
            )
        params[param] = value

    # one "ACTION.PARAM=VALUE" text is read as a list of them is
    for source in ([s] if isinstance(s, str) else s for s in sources):
        if not source:
            continue
        if not isinstance(source, list | tuple | Mapping):
            raise ConfigError(
                f"overrides {source!r} are a {type(source).__name__}",
                option="overrides",
                hint='write {"ACTION.PARAM": value} or {"ACTION": {"PARAM": value}}',
            )
        if isinstance(source, list | tuple):
            for text in source:
                put(*parse_override(text))
            continue
        for key, value in source.items():
            if isinstance(value, Mapping) and "." not in key:
                for param, given in value.items():
                    put(key, param, given)
                continue
            action, dot, param = str(key).partition(".")
            if not dot or not action or not param:
                raise ConfigError(
                    f"override key {key!r} names no param",
                    option="overrides",
                    hint='write {"ACTION.PARAM": value} or {"ACTION": {"PARAM": value}}',
                )
            put(action, param, value)
    return merged


def _same_value(a: Any, b: Any) -> bool:
    """The same override given twice (harmless): equal, and of one type (True is not 1);
    ``--set`` values (``TypedText``) by their text."""
    from reprolam.engine.policy import TypedText

    if type(a) is TypedText and type(b) is TypedText:
        return bool(a.text == b.text)
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # an array's == is elementwise: not one answer
        return a is b


def _id(run: RunRef) -> str:
    return run if isinstance(run, str) else run.id
