"""Sweeps: one fork per point, concurrent, grouped by a recorded sweep id; the store-wide cache."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import reprolam
from reprolam.cli.main import cli
from reprolam.engine.executor_registry import register_executor
from reprolam.engine.executors import LocalExecutor, Outcome
from reprolam.errors import ConfigError
from reprolam.history.sweep import SWEEP_KEY, sweep_runs
from reprolam.history.sweep_space import parse_grid, parse_space, random_points
from reprolam.trace import SQLiteStore
from reprolam.trace.records import StepStatus

FLOW = f"{Path(__file__).with_name('sweep_flow.py')}:flow"


def invoke(store: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--store", str(store), *args])


@pytest.fixture
def parent(tmp_path: Path) -> tuple[Path, str]:
    store = tmp_path / "store"
    result = reprolam.run(FLOW, store=store, seed=3)
    assert result.succeeded
    return store, result.id


def outputs_by_action(store: SQLiteStore, run_id: str) -> dict[str, dict[str, str]]:
    return {s.action: s.outputs for s in store.steps(run_id)}


def test_grid_sweep_forks_each_point_concurrently_under_one_sweep_id(
    parent: tuple[Path, str],
) -> None:
    store, run_id = parent
    with reprolam.open(store) as rl:
        result = rl.sweep(run_id, at="fit", grid={"fit.C": [0.5, 1.0, 2.0, 4.0]}, jobs=3)
        assert result.succeeded
        assert [p.values for p in result.points] == [{"fit.C": c} for c in (0.5, 1.0, 2.0, 4.0)]
        runs = sweep_runs(rl.store, result.id)
        assert [r.id for r in runs] == [p.run.id for p in result.points if p.run]
        for number, run in enumerate(runs):
            assert (run.parent_id, run.fork_index) == (run_id, 1)
            recorded = run.planner[SWEEP_KEY]
            assert (recorded["point"], recorded["points"]) == (number, 4)
            assert recorded["values"] == {"fit.C": result.points[number].values["fit.C"]}
            assert recorded["mode"] == "grid"
            assert run.planner["name"] == "rules"
            assert rl.audit(run.id).clean
            own = rl.store.own_steps(run.id)
            assert [s.action for s in own] == ["fit", "score"]
            assert own[0].params["C"] == result.points[number].values["fit.C"]
        # the same points forked one by one, sequentially, give the same outputs
        for point in result.points:
            alone = rl.fork(run_id, at="fit", set=point.values)
            assert point.run is not None
            assert outputs_by_action(rl.store, alone.id) == outputs_by_action(
                rl.store, point.run.id
            )
        assert result.headline() == "score"
        best = result.best()
        assert best is not None
        assert best.metrics == max(
            (p.metrics or {} for p in result.points), key=lambda m: m["score"]
        )


def test_a_fork_of_a_sweep_point_is_an_ordinary_fork(parent: tuple[Path, str]) -> None:
    store, run_id = parent
    with reprolam.open(store) as rl:
        point = rl.sweep(run_id, at="fit", grid={"fit.C": [2.0]}).points[0]
        assert point.run is not None
        again = rl.fork(point.run.id, at="score")
        assert again.succeeded
        assert SWEEP_KEY not in again.run.planner
        assert sweep_runs(rl.store, point.run.planner[SWEEP_KEY]["id"]) == [point.run]


def test_random_points_are_seeded_recorded_and_within_the_space() -> None:
    axes = [parse_space("fit.C=0.001:100:log"), parse_space("make_data.n=10:20")]
    first = random_points(axes, 16, seed=7)
    assert first == random_points(axes, 16, seed=7)
    assert first != random_points(axes, 16, seed=8)
    assert all(0.001 <= p["fit.C"] <= 100 for p in first)
    assert all(isinstance(p["make_data.n"], int) and 10 <= p["make_data.n"] <= 20 for p in first)
    assert len({p["fit.C"] for p in first}) == 16


def test_random_sweep_records_its_seed_and_space(parent: tuple[Path, str]) -> None:
    store, run_id = parent
    with reprolam.open(store) as rl:
        result = rl.sweep(run_id, at="fit", space=["fit.C=0.1:10:log"], random=3, seed=5, jobs=2)
        expected = random_points([parse_space("fit.C=0.1:10:log")], 3, seed=5)
        assert [p.values for p in result.points] == expected
        for run in sweep_runs(rl.store, result.id):
            recorded = run.planner[SWEEP_KEY]
            assert recorded["seed"] == 5
            assert recorded["mode"] == "random"
            assert recorded["axes"] == [
                {"target": "fit.C", "low": 0.1, "high": 10.0, "log": True, "integer": False}
            ]


def test_second_identical_sweep_executes_nothing_and_says_every_step_was_reused(
    parent: tuple[Path, str],
) -> None:
    store, run_id = parent
    grid = ["fit.C=0.5,1,1.5,2,2.5,3,3.5,4"]
    first = invoke(store, "sweep", run_id, "--at", "fit", "--grid", *grid, "--jobs", "2",
                   "--reuse", "--json")  # fmt: skip
    assert first.exit_code == 0, first.output
    one = json.loads(first.stdout)
    # C=1 is the parent's own value: its two steps are the parent's, reused already
    assert (one["executed"], one["reused"]) == (14, 2)
    second = invoke(store, "sweep", run_id, "--at", "fit", "--grid", *grid, "--jobs", "2",
                    "--reuse", "--json")  # fmt: skip
    assert second.exit_code == 0, second.output
    two = json.loads(second.stdout)
    assert (two["executed"], two["reused"]) == (0, 16)
    assert two["sweep"] != one["sweep"]
    human = invoke(store, "sweep", run_id, "--at", "fit", "--grid", *grid, "--reuse")
    assert "every step was reused (16 steps): nothing executed" in human.stdout
    with SQLiteStore(store) as trace:
        for before, after in zip(one["points"], two["points"], strict=True):
            assert before["metrics"] == after["metrics"]
            steps = trace.own_steps(after["run_id"])
            for step in steps:
                cache = step.proposal["cache"]
                assert cache["reused"]
                source = trace.step_at(*cache["counterpart"])
                if after["values"] == {"fit.C": 1}:  # the parent's own value: its steps
                    assert source.run_id == run_id
                else:  # a sibling's, found store-wide: the step that computed it
                    assert cache["store_wide"]
                    assert source.run_id == before["run_id"]
                assert (source.action, source.outputs) == (step.action, step.outputs)
                assert step.status is StepStatus.SUCCEEDED
            assert reprolam.audit(after["run_id"], store=trace).clean


def test_run_reuse_takes_outputs_from_any_run_in_the_store(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with reprolam.open(store) as rl:
        first = rl.run(FLOW, seed=1)
        again = rl.run(FLOW, seed=1, reuse=True)
        assert again.succeeded
        assert [s.proposal["cache"]["counterpart"] for s in again.steps] == [
            [first.id, s.index] for s in first.steps
        ]
        assert [s.outputs for s in again.steps] == [s.outputs for s in first.steps]
        other_seed = rl.run(FLOW, seed=2, reuse=True)
        assert all("cache" not in s.proposal for s in other_seed.steps)
        without = rl.run(FLOW, seed=1)
        assert all("cache" not in s.proposal for s in without.steps)
    result = invoke(store, "run", FLOW, "--seed", "1", "--reuse", "--json")
    assert result.exit_code == 0, result.output


def test_failed_steps_are_never_reused(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with reprolam.open(store) as rl:
        failed = rl.run(FLOW, seed=1, set={"fit.C": -1.0})
        assert not failed.succeeded
        again = rl.run(FLOW, seed=1, set={"fit.C": -1.0}, reuse=True)
        fit = next(s for s in again.steps if s.action == "fit")
        assert fit.status is StepStatus.FAILED
        assert "cache" not in fit.proposal


def test_a_failing_point_is_recorded_and_the_others_still_run(parent: tuple[Path, str]) -> None:
    store, run_id = parent
    result = invoke(store, "sweep", run_id, "--at", "fit", "--grid", "fit.C=1,-1,2", "--json")
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert [p["status"] for p in payload["points"]] == ["succeeded", "failed", "succeeded"]
    assert payload["points"][1]["failed"] == 1


def test_cli_writes_csv_and_plot(parent: tuple[Path, str], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    store, run_id = parent
    csv_path, png = tmp_path / "s.csv", tmp_path / "s.png"
    result = invoke(store, "sweep", run_id, "--at", "make_data", "--grid", "fit.C=0.5,2",
                    "--grid", "make_data.n=10,20", "--csv", str(csv_path),
                    "--plot", str(png))  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert len(rows) == 4
    assert {(r["fit.C"], r["make_data.n"]) for r in rows} == {
        ("0.5", "10"), ("0.5", "20"), ("2", "10"), ("2", "20")
    }  # fmt: skip
    assert all(r["status"] == "succeeded" and r["score"] for r in rows)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    best = min(rows, key=lambda r: -float(r["score"]))
    assert f"best: point {best['point']} " in result.stdout
    assert best["run_id"] in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grid", "nope.C=1,2"], "nope"),
        (["--grid", "fit.C=1,2", "--random", "3"], "--random"),
        (["--random", "3"], "--grid"),
        (["--random", "3", "--space", "fit.C=5:1"], "LOW < HIGH"),
        (["--random", "3", "--space", "fit.C=0:1:log"], "LOW > 0"),
        # integers past int64 made NumPy's draw raise (a traceback); past 2**53 lose digits
        (["--random", "3", "--space", "fit.C=1:10" + "0" * 30], "integer bounds must lie within"),
        (["--grid", "fit.C"], "ACTION.PARAM="),
        (["--grid", "fit.C=1,,2"], "empty value"),
        (["--grid", "fit.C=1,2", "--workers", "2", "--executor", "process"], "dask"),
        # make_data ran before the fork point: every point would be the parent's step
        (["--grid", "make_data.n=5,6"], "sweep at make_data (--at make_data)"),
    ],
)
def test_bad_sweeps_are_refused_in_one_line_before_anything_is_written(
    parent: tuple[Path, str], args: list[str], message: str
) -> None:
    store, run_id = parent
    result = invoke(store, "sweep", run_id, "--at", "fit", *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    with SQLiteStore(store) as trace:
        assert [r.id for r in trace.list_runs()] == [run_id]


def test_library_errors_name_python_options(parent: tuple[Path, str]) -> None:
    store, run_id = parent
    with pytest.raises(ConfigError, match="grid=") as caught:
        reprolam.sweep(run_id, at="fit", store=store)
    assert "--" not in str(caught.value)
    with pytest.raises(ConfigError, match="jobs=0"):
        reprolam.sweep(run_id, at="fit", grid={"fit.C": [1]}, jobs=0, store=store)


def test_grid_parsing() -> None:
    axis = parse_grid("train_model.C=0.01,0.1,1")
    assert (axis.target, axis.values) == ("train_model.C", (0.01, 0.1, 1))
    assert parse_grid("preprocess_data.scaler=standard,minmax").values == ("standard", "minmax")
    with pytest.raises(ConfigError, match="twice"):
        parse_grid("a.b=1,1")


def test_grid_values_holding_commas_inside_json_are_one_value_each() -> None:
    """A tuple, list or model param could not be swept from the command line: `--grid
    make.pair=[1,2],[3,4]` was split at every comma ('make.pair='[1': Input should be a
    valid array')."""
    assert parse_grid("m.pair=[1,2],[3,4]").values == ([1, 2], [3, 4])
    assert parse_grid('m.cfg={"k":1,"j":2},{"k":3}').values == ({"k": 1, "j": 2}, {"k": 3})
    assert parse_grid('m.s="a,b",c').values == ("a,b", "c")
    assert parse_grid("m.s=[a,b").values == ("[a", "b")  # brackets unpaired: every comma


class TwoEnvironments(LocalExecutor):
    """Runs in-process but reports alternating worker environments, like a mixed cluster."""

    name = "two-environments"
    concurrent = True
    calls = 0

    def execute(self, *args: Any, **kwargs: Any) -> Outcome:
        outcome = super().execute(*args, **kwargs)
        TwoEnvironments.calls += 1
        where = {"worker": "w", "environment": "ab"[TwoEnvironments.calls % 2] * 64}
        return replace(outcome, placement=where)


def test_a_sweep_over_workers_with_different_environments_says_so(
    parent: tuple[Path, str],
) -> None:
    register_executor("two-environments", TwoEnvironments)
    store, run_id = parent
    result = invoke(store, "sweep", run_id, "--at", "fit", "--grid", "fit.C=2,3",
                    "--executor", "two-environments", "--jobs", "2")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "the workers ran 2 different environments" in result.stdout
    with SQLiteStore(store) as trace:
        forks = [r for r in trace.list_runs() if r.parent_id == run_id]
        placements = [s.proposal["placement"] for f in forks for s in trace.own_steps(f.id)]
        assert {p["environment"][0] for p in placements} == {"a", "b"}
        assert all(reprolam.audit(f.id, store=trace).clean for f in forks)
    same = invoke(store, "sweep", run_id, "--at", "fit", "--grid", "fit.C=2,3", "--json")
    assert json.loads(same.stdout)["worker_environments"] == []


def test_fork_reuse_takes_a_siblings_outputs(parent: tuple[Path, str]) -> None:
    store, run_id = parent
    first = invoke(store, "fork", run_id, "--at", "fit", "--set", "fit.C=2", "--json")
    sibling = json.loads(first.stdout)["run"]["id"]
    result = invoke(store, "fork", run_id, "--at", "fit", "--set", "fit.C=2", "--reuse")
    assert result.exit_code == 0, result.output
    said = " ".join(result.stdout.split())
    assert f"reused the outputs of step 1 of run {sibling}" in said
    assert "0 executed, 2 reused: succeeded" in said  # nothing ran: never said "executed"
    reused = said.split()[1]  # "fork ID of PARENT ..."
    shown = invoke(store, "show", reused).stdout
    assert [
        line.split()[-1] for line in shown.splitlines() if " fit " in line or " score " in line
    ] == ["reused", "reused"]
    without = invoke(store, "fork", run_id, "--at", "fit", "--set", "fit.C=2", "--json")
    changed = [c["changed"] for c in json.loads(without.stdout)["cache"]]
    assert changed == [["params.C"], ["inputs.fit"]]  # without reuse: the parent, by index


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_a_nan_or_infinite_metric_is_never_the_best_point(direction: str) -> None:
    from reprolam.history.sweep import SweepPoint, SweepResult

    values = [float("nan"), 2.0, float("inf"), 1.0, float("-inf"), 3.0, float("nan")]
    for order in (values, values[::-1]):
        points = [
            SweepPoint(number, {"fit.C": number}, metrics={"loss": value})
            for number, value in enumerate(order)
        ]
        result = SweepResult("s", "p", 1, {"metric": "loss", "direction": direction}, points)
        best = result.best()
        assert best is not None
        assert best.metrics == {"loss": 3.0 if direction == "maximize" else 1.0}
    nothing = SweepResult(
        "s", "p", 1, {"metric": "loss"}, [SweepPoint(0, {}, metrics={"loss": float("nan")})]
    )
    assert nothing.best() is None


LABELS = """
from reprolam import action, workflow


@action(outputs=["label"])
def name(*, label: str = "a", C: float = 1.0) -> str:
    return f"{label}:{C}"


flow = workflow("labels", [name], outputs=["label"])
"""


def test_grid_values_are_read_as_the_param_wants_as_set_reads_them(tmp_path: Path) -> None:
    # --set name.label=1 ran; --grid name.label=1,2 was refused ("should be a valid
    # string"), and --grid name.C=inf too (a float param takes inf from --set).
    (tmp_path / "labels.py").write_text(LABELS)
    store = tmp_path / "store"
    parent = reprolam.run(f"{tmp_path / 'labels.py'}:flow", store=store)
    result = invoke(
        store, "sweep", parent.id, "--at", "0", "--grid", "name.label=1,true,x", "--json"
    )
    assert result.exit_code == 0, result.output
    points = json.loads(result.stdout)["points"]
    assert [p["values"] for p in points] == [{"name.label": v} for v in ("1", "true", "x")]
    with SQLiteStore(store) as trace:
        labels = [trace.own_steps(p["run_id"])[0].params["label"] for p in points]
    assert labels == ["1", "true", "x"]
    infinite = invoke(store, "sweep", parent.id, "--at", "0", "--grid", "name.C=inf,2")
    assert infinite.exit_code == 0, infinite.output
    refused = invoke(store, "sweep", parent.id, "--at", "0", "--grid", "name.C=abc")
    assert refused.exit_code == 2
    assert "name.C='abc'" in refused.stderr


def test_grid_values_the_param_reads_as_one_are_refused_before_anything_runs(
    parent: tuple[Path, str],
) -> None:
    # --grid fit.C=1,1.0 (and grid={"fit.C": [2, 2.0]}) ran the same point twice.
    store, run_id = parent
    typed = invoke(store, "sweep", run_id, "--at", "fit", "--grid", "fit.C=1,1.0")
    assert typed.exit_code == 2, typed.output
    assert "error: --grid fit.C: 1 and 1.0 are the same value of the param (1.0)" in typed.stderr
    with pytest.raises(ConfigError, match=r"grid fit\.C: 2 is listed twice"):
        reprolam.sweep(run_id, at="fit", grid={"fit.C": [2, 0.5, 2]}, store=store)
    with SQLiteStore(store) as trace:
        assert [r.id for r in trace.list_runs()] == [run_id]


def test_a_param_both_set_and_swept_is_refused_before_anything_runs(
    parent: tuple[Path, str],
) -> None:
    # --set fit.C=5 beside --grid fit.C=1,2 was dropped silently: the points ran with 1 and
    # 2 while each recorded the sweep's "set" as fit.C=5.
    store, run_id = parent
    both = invoke(store, "sweep", run_id, "--at", "fit", "--grid", "fit.C=1,2", "--set", "fit.C=5")
    assert both.exit_code == 2, both.output
    assert "error: --set fit.C is also swept by the --grid" in both.stderr
    with pytest.raises(ConfigError, match=r"fit\.C is also swept by the space"):
        reprolam.sweep(
            run_id, at="fit", space={"fit.C": (1, 2)}, random=2, set={"fit.C": 5}, store=store
        )
    with SQLiteStore(store) as trace:
        assert [r.id for r in trace.list_runs()] == [run_id]


GLOBAL_RNG = """
import random
import time

from reprolam import action, workflow


@action(outputs=["x"])
def wait(*, delay: float = 0.0) -> float:
    time.sleep(delay)  # draws nothing
    return delay


@action(outputs=["draws"], determinism="seeded")
def draw(x: float, *, pause: float = 0.0) -> list[float]:
    first = random.random()  # the global RNG, seeded for a seeded action
    time.sleep(pause)
    return [first, random.random()]


flow = workflow("global-rng", [wait, draw], outputs=["draws"])
"""


def test_concurrent_points_on_the_local_executor_compute_what_one_at_a_time_does(
    tmp_path: Path,
) -> None:
    # --jobs 2 on the local executor ran two actions at once in one interpreter: a seeded
    # action drew from the global RNG the other had just seeded (outputs `reproduce` never
    # gave back), and a pure action that drew nothing was recorded with the other's draws
    # as undeclared global-RNG effects.
    (tmp_path / "rng.py").write_text(GLOBAL_RNG)
    with reprolam.open(tmp_path / "store") as rl:
        parent = rl.run(f"{tmp_path / 'rng.py'}:flow", set={"draw.pause": 0.5})
        # points 1 and 2 draw at once while point 0 waits
        grid = {"wait.delay": [1.5, 0.0, 0.01]}
        together = rl.sweep(parent.id, at="wait", grid=grid, jobs=3)
        alone = rl.sweep(parent.id, at="wait", grid=grid, jobs=1)
        for both, one in zip(together.points, alone.points, strict=True):
            assert both.run is not None
            assert one.run is not None
            here = rl.store.own_steps(both.run.id)
            assert [s.outputs for s in here] == [s.outputs for s in rl.store.own_steps(one.run.id)]
            assert all("observed" not in s.proposal for s in here), [s.proposal for s in here]


LATE_FAILURE = """
from reprolam import action, workflow


@action(outputs=["fit"])
def fit(*, C: float = 1.0) -> float:
    return C


@action(outputs=["metrics"])
def score(fit: float) -> dict[str, float]:
    return {"accuracy": fit}


@action(outputs=["report"])
def report(fit: float, *, most: float = 100.0) -> str:
    if fit > most:
        raise ValueError(f"fit {fit} is above {most}")
    return str(fit)


flow = workflow(
    "late-failure", [fit, score, report], outputs=["metrics", "report"], metrics="metrics"
)
"""


def test_a_point_whose_fork_failed_after_its_metrics_is_never_the_best(tmp_path: Path) -> None:
    # The best point was the failed fork with the highest accuracy (its score step ran
    # before report failed): the table and --json named a failed run as the sweep's result,
    # where Optuna, told the trial failed, had no value for it.
    (tmp_path / "late.py").write_text(LATE_FAILURE)
    store = tmp_path / "store"
    parent = reprolam.run(f"{tmp_path / 'late.py'}:flow", store=store)
    result = invoke(
        store, "sweep", parent.id, "--at", "fit", "--grid", "fit.C=5,50", "--set",
        "report.most=10", "--json",
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    payload = json.loads(result.stdout)
    assert [p["status"] for p in payload["points"]] == ["succeeded", "failed"]
    assert payload["points"][1]["metrics"] == {"accuracy": 50.0}  # recorded, shown
    assert payload["best"]["point"] == 0
    table = invoke(store, "sweep", parent.id, "--at", "fit", "--grid", "fit.C=5,50", "--set",
                   "report.most=10")  # fmt: skip
    assert "best: point 0 (fit.C=5) accuracy=5" in table.stdout, table.stdout


def test_a_sweep_of_more_points_than_it_runs_is_refused_at_once(parent: tuple[Path, str]) -> None:
    # --grid with 200 x 200 x 200 values made and checked 8 million points in silence for
    # minutes before the first fork (then ran forks for weeks); --random 100000000 drew its
    # points until memory ran out.
    store, run_id = parent
    values = ",".join(str(v) for v in range(1, 201))
    grid = ["--grid", f"fit.C={values}", "--grid", f"fit.delay={values}"]
    grid += ["--grid", f"make_data.n={values}"]
    big = invoke(store, "sweep", run_id, "--at", "make_data", *grid)
    assert big.exit_code == 2, big.output
    assert "error: --grid makes 8000000 points (200 x 200 x 200 values), more than a " in (
        big.stderr
    )
    assert "--random N or --optuna N" in big.stderr
    drawn = invoke(store, "sweep", run_id, "--at", "fit", "--random", "100000000", "--space",
                   "fit.C=0.1:10")  # fmt: skip
    assert drawn.exit_code == 2, drawn.output
    assert "error: --random 100000000: more points than a sweep runs (100000)" in drawn.stderr
    with SQLiteStore(store) as trace:
        assert [r.id for r in trace.list_runs()] == [run_id]


PAIRS = """
from reprolam import action, workflow


@action(outputs=["metrics"])
def score(*, pair: list[int] = [1, 2], weights: dict[str, float] = {}) -> dict[str, float]:
    return {"total": float(sum(pair) + sum(weights.values()))}


flow = workflow("pairs", [score], outputs=["metrics"], metrics="metrics")
"""


def test_the_csv_writes_a_swept_list_or_object_as_json(tmp_path: Path) -> None:
    # --csv wrote Python's repr of a swept list or dict ({'a': 1.0}), which no JSON or CSV
    # reader takes back; compare --csv writes such values as JSON.
    (tmp_path / "pairs.py").write_text(PAIRS)
    store = tmp_path / "store"
    parent = reprolam.run(f"{tmp_path / 'pairs.py'}:flow", store=store)
    written = tmp_path / "sweep.csv"
    result = invoke(
        store, "sweep", parent.id, "--at", "score", "--grid", "score.pair=[1,2],[3,4]",
        "--grid", 'score.weights={"a":1}', "--csv", str(written),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(written.read_text())))
    assert [json.loads(r["score.pair"]) for r in rows] == [[1, 2], [3, 4]]
    assert [json.loads(r["score.weights"]) for r in rows] == [{"a": 1.0}, {"a": 1.0}]
    assert [r["total"] for r in rows] == ["4.0", "8.0"]


def test_the_plot_draws_no_point_whose_fork_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The plot drew a fork that failed after its metrics step beside the results, the
    # highest of them, as best() named it until ddaa16f.
    pytest.importorskip("matplotlib")
    from matplotlib.axes import Axes

    from reprolam.history.sweep_plot import plot_sweep

    drawn: list[tuple[list[Any], list[float]]] = []
    scatter = Axes.scatter

    def seen(self: Axes, xs: Any, ys: Any, *args: Any, **kwargs: Any) -> Any:
        drawn.append((list(xs), list(ys)))
        return scatter(self, xs, ys, *args, **kwargs)

    monkeypatch.setattr(Axes, "scatter", seen)
    (tmp_path / "late.py").write_text(LATE_FAILURE)
    with reprolam.open(tmp_path / "store") as rl:
        parent = rl.run(f"{tmp_path / 'late.py'}:flow")
        swept = rl.sweep(parent.id, at="fit", grid={"fit.C": [5, 50]}, set={"report.most": 10})
    assert [p.succeeded for p in swept.points] == [True, False]
    plot_sweep(swept, tmp_path / "sweep.png")
    assert drawn == [([5], [5.0])]
