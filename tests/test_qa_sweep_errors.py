"""A bad sweep value is blamed on the flag that gave it (--grid), not on --set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import reprolam
from reprolam.cli.main import cli
from reprolam.errors import ConfigError, StoreError

TESTS = Path(__file__).parent


@pytest.fixture
def parent(tmp_path: Path) -> tuple[str, str]:
    store = str(tmp_path / "store")
    made = CliRunner().invoke(cli, ["--store", store, "run", f"{TESTS}/sweep_flow.py", "--json"])
    assert made.exit_code == 0, made.output
    return store, json.loads(made.stdout)["run"]["id"]


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--grid", "fit.C=0.1,abc"], "--grid"),
        (["--grid", "fit.C=0.1,1", "--set", "fit.delay=abc"], "--set"),
    ],
)
def test_a_bad_value_names_the_flag_it_came_from(
    parent: tuple[str, str], args: list[str], flag: str
) -> None:
    store, run_id = parent
    result = CliRunner().invoke(cli, ["--store", store, "sweep", run_id, "--at", "fit", *args])
    (line,) = result.stderr.splitlines()
    assert result.exit_code == 2, result.output
    assert line.startswith(f"error: {flag} fit."), line
    listed = json.loads(CliRunner().invoke(cli, ["--store", store, "runs", "--json"]).stdout)
    assert [r["id"] for r in listed] == [run_id]  # nothing was written


@pytest.mark.parametrize("flag", ["--csv", "--plot"])
def test_an_output_path_that_cannot_be_written_is_refused_before_the_sweep_runs(
    parent: tuple[str, str], tmp_path: Path, flag: str
) -> None:
    # It was a FileNotFoundError traceback once every point had run, the summary lost.
    store, run_id = parent
    target = str(tmp_path / "missing" / "out")
    result = CliRunner().invoke(
        cli, ["--store", store, "sweep", run_id, "--at", "fit", "--grid", "fit.C=1,2", flag, target]
    )
    (line,) = result.stderr.splitlines()
    assert result.exit_code == 2, result.output
    assert line.startswith(f"error: {flag} {target}: cannot write there: "), line
    assert "does not exist" in line
    listed = json.loads(CliRunner().invoke(cli, ["--store", store, "runs", "--json"]).stdout)
    assert [r["id"] for r in listed] == [run_id]  # nothing ran


@pytest.mark.parametrize("flag", ["--csv", "--plot"])
def test_an_empty_output_path_is_refused_before_the_sweep_runs(
    parent: tuple[str, str], tmp_path: Path, flag: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --csv '' was an IsADirectoryError traceback ('.') once every point had run, and
    # --plot '' wrote a hidden '.png' into the current directory and said 'plot: '
    store, run_id = parent
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = CliRunner().invoke(
        cli, ["--store", store, "sweep", run_id, "--at", "fit", "--grid", "fit.C=1", flag, ""]
    )
    (line,) = result.stderr.splitlines()
    assert result.exit_code == 2, result.output
    assert line.startswith(f"error: {flag} '' is empty: name the file to write"), line
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    listed = json.loads(CliRunner().invoke(cli, ["--store", store, "runs", "--json"]).stdout)
    assert [r["id"] for r in listed] == [run_id]  # nothing ran


def test_a_read_only_store_is_one_refusal_not_a_failed_point_each(
    parent: tuple[str, str],
) -> None:
    """Every point was an 'error' line (the store is read-only), then the table, exit 1."""
    from reprolam.history.sweep import sweep
    from reprolam.history.sweep_space import parse_grid
    from reprolam.trace import SQLiteStore

    store, run_id = parent
    refused = pytest.raises(StoreError, match=r"open read-only .* every point of a sweep")
    with SQLiteStore(store, read_only=True) as readable, refused:
        sweep(readable, run_id, at="fit", grid=[parse_grid("fit.C=0.1,1")])


@pytest.mark.parametrize(
    ("args", "allowed"),
    [
        (["--random", "2", "--seed", "-1"], "0 or more"),
        (["--optuna", "1", "--seed", "-1"], "from 0 to 4294967295"),
        (["--optuna", "1", "--seed", str(2**32)], "from 0 to 4294967295"),
    ],
)
def test_a_seed_numpy_cannot_take_is_one_error_before_anything_runs(
    parent: tuple[str, str], args: list[str], allowed: str
) -> None:
    # It was NumPy's traceback (ValueError: expected non-negative integer / Seed must be
    # between 0 and 2**32 - 1); a run's --seed takes -1, so a sweep's looked as if it would.
    if "--optuna" in args:
        pytest.importorskip("optuna")
    store, run_id = parent
    result = CliRunner().invoke(
        cli, ["--store", store, "sweep", run_id, "--at", "fit", "--space", "fit.C=1:2", *args]
    )
    (line,) = result.stderr.splitlines()
    assert result.exit_code == 2, result.output
    seed = args[-1]
    said = f"a sweep's seed is a whole number, {allowed}: e.g. --seed 1"
    assert line == f"error: --seed {seed}: {said}"
    listed = json.loads(CliRunner().invoke(cli, ["--store", store, "runs", "--json"]).stdout)
    assert [r["id"] for r in listed] == [run_id]  # nothing was written


def test_a_python_sweep_seed_that_is_not_a_whole_number_is_a_config_error(
    parent: tuple[str, str],
) -> None:
    store, run_id = parent
    with reprolam.open(store) as rl:
        for seed in ("x", 1.5, True, -3):
            with pytest.raises(ConfigError, match="a sweep's seed is a whole number"):
                rl.sweep(run_id, at="fit", space={"fit.C": (1, 2)}, random=1, seed=seed)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["--executor", "dask", "--timeout", "5"],
            "error: an action timeout (5.0 s) needs an executor that can stop a running "
            "action; the dask executor cannot: use --executor process",
        ),
        (
            ["--fault", "nope:0.5"],
            "error: --fault nope:0.5: the workflow has no action 'nope'",
        ),
    ],
    ids=["timeout-on-dask", "fault-of-no-action"],
)
def test_a_policy_every_fork_would_refuse_is_one_refusal_before_anything_runs(
    parent: tuple[str, str], args: list[str], said: str
) -> None:
    # Every point printed 'error ... use executor='process'' (the Python spelling), then
    # the table, and the sweep exited 1 as if points had failed.
    store, run_id = parent
    result = CliRunner().invoke(
        cli, ["--store", store, "sweep", run_id, "--at", "fit", "--grid", "fit.C=1,2", *args]
    )
    (line,) = result.stderr.splitlines()
    assert result.exit_code == 2, result.output
    assert line.startswith(said), line
    assert result.stdout == ""
    listed = json.loads(CliRunner().invoke(cli, ["--store", store, "runs", "--json"]).stdout)
    assert [r["id"] for r in listed] == [run_id]  # nothing was written


@pytest.mark.parametrize(
    ("given", "right"),
    [
        ({"grid": {("fit", "C"): [0.1, 1]}}, "{'fit.C': [0.1, 1]}"),
        ({"grid": {"fit:C": [0.1, 1]}}, "{'fit.C': [0.1, 1]}"),
        ({"grid": {"C": [0.1, 1]}}, "{'ACTION.C': [0.1, 1]}"),
        ({"space": {("fit", "C"): (1, 2)}, "random": 1}, "{'fit.C': (1, 2)}"),
    ],
    ids=["grid-tuple", "grid-colon", "grid-no-action", "space-tuple"],
)
def test_a_grid_or_space_key_spelled_otherwise_is_shown_spelled_right(
    parent: tuple[str, str], given: dict[str, Any], right: str
) -> None:
    # A tuple key read "grid \"('fit', 'C')=0\": expected ACTION.PARAM=...", a form the
    # mapping never had, with a value (=0) the user never gave.
    store, run_id = parent
    option = "grid" if "grid" in given else "space"
    with reprolam.open(store) as rl, pytest.raises(ConfigError) as refused:
        rl.sweep(run_id, at="fit", **given)
    assert refused.value.option == option
    assert str(refused.value).startswith(f"{option} key "), str(refused.value)
    assert str(refused.value).endswith(f"write {right}"), str(refused.value)
    assert "=0" not in str(refused.value)


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ({"metric": 3}, "metric=3: name one of the run's headline metrics"),
        ({"metric": ""}, "metric '': name one of the run's headline metrics"),
        ({"direction": "up"}, "direction 'up': give maximize or minimize"),
        ({"seed": "x"}, "seed='x': a sweep's seed is a whole number"),
        ({"seed": -1}, "seed=-1: a sweep's seed is a whole number"),
        ({"jobs": "2"}, "jobs '2': give a whole number, 1 or more"),
        ({"jobs": 0}, "jobs=0: give a whole number, 1 or more"),
        ({"reuse": "no"}, "reuse 'no': reuse is True or False"),
    ],
)
def test_a_grid_sweep_option_of_the_wrong_kind_is_refused_before_any_point_runs(
    parent: tuple[str, str], given: dict[str, Any], said: str
) -> None:
    # metric=3, direction='up', seed='x' (a grid draws nothing) and reuse='no' (truthy)
    # were taken and recorded with every point; jobs='2' was a TypeError.
    store, run_id = parent
    with reprolam.open(store) as rl:
        with pytest.raises(ConfigError) as refused:
            rl.sweep(run_id, at="fit", grid={"fit.C": [0.1, 1]}, **given)
        assert str(refused.value).startswith(said), str(refused.value)
        assert [r.id for r in rl.runs()] == [run_id]  # nothing was written


def test_a_random_count_that_is_not_a_whole_number_is_a_config_error(
    parent: tuple[str, str],
) -> None:
    store, run_id = parent
    with reprolam.open(store) as rl, pytest.raises(ConfigError, match="random '2': give a whole"):
        rl.sweep(run_id, at="fit", space={"fit.C": (1, 2)}, random="2")  # type: ignore[arg-type]


def test_a_points_error_on_the_command_line_names_flags_not_python_options(
    tmp_path: Path,
) -> None:
    # A point that could not run (its input's blob damaged) printed the library's text, 'again
    # with reuse=True', in the table and in --json; the CLI's other errors say --reuse.
    store = str(tmp_path / "store")
    made = CliRunner().invoke(
        cli, ["--store", store, "run", f"{TESTS}/sweep_flow.py", "--set", "make_data.n=4000"]
    )
    assert made.exit_code == 0, made.output
    (blob,) = [p for p in (tmp_path / "store" / "artifacts").rglob("*") if p.is_file()]
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes()[:-1] + b"]]")
    (run_id,) = [r.id for r in reprolam.runs(store=store)]
    args = ["--store", store, "sweep", run_id, "--at", "fit", "--grid", "fit.C=1,2"]
    shown = CliRunner().invoke(cli, args)
    payload = json.loads(CliRunner().invoke(cli, [*args, "--json"]).stdout)
    assert shown.exit_code == 1, shown.output
    said = " ".join(shown.stdout.split())
    assert "point 0: error artifact " in said
    assert "again with --reuse (a new run" in said
    assert "reuse=True" not in said
    for point in payload["points"]:
        assert "again with --reuse (a new run" in point["error"], point["error"]
    # the fork each point recorded before the error stopped it is named, not 'not run'
    forks = {r.id: r.status.value for r in reprolam.runs(store=store) if r.id != run_id}
    for point in payload["points"]:
        assert forks[point["run_id"]] == point["status"] == "interrupted"
    with reprolam.open(store) as rl:  # from Python, the Python spelling
        errors = [p.error for p in rl.sweep(run_id, at="fit", grid={"fit.C": [1]}).points]
    assert "again with reuse=True (a new run" in str(errors[0])


def test_a_process_timeout_is_shown_with_its_flag_on_the_command_line(tmp_path: Path) -> None:
    # The recorded error says '(policy action_timeout)', as Python names it; `show` printed
    # it so, though the command line set it with --timeout.
    store = str(tmp_path / "store")
    ran = CliRunner().invoke(
        cli,
        [
            "--store", store, "run", f"{TESTS}/sweep_flow.py", "--set", "fit.delay=5",
            "--executor", "process", "--timeout", "1", "--json",
        ],
    )  # fmt: skip
    run_id = json.loads(ran.stdout)["run"]["id"]
    shown = " ".join(CliRunner().invoke(cli, ["--store", store, "show", run_id]).stdout.split())
    assert "did not finish within 1.0 s of starting (policy --timeout)" in shown, shown
    assert "action_timeout" not in shown
    recorded = reprolam.show(run_id, store=store).run.error or ""
    assert "(policy action_timeout)" in recorded  # the record keeps Python's words


def test_one_process_executor_instance_is_not_shared_by_points_at_once(
    parent: tuple[str, str],
) -> None:
    # Two points' actions crossed in the instance's one worker pipe: a point was recorded as
    # failed ('the worker process running fit died before fit started'), its metrics lost.
    from reprolam.engine.process import ProcessExecutor

    store, run_id = parent
    shared = ProcessExecutor()
    try:
        with reprolam.open(store) as rl:
            with pytest.raises(ConfigError) as refused:
                rl.sweep(run_id, at="fit", grid={"fit.C": [1, 2]}, jobs=2, executor=shared)
            assert [r.id for r in rl.runs()] == [run_id]  # nothing was written
    finally:
        shared.close()
    assert str(refused.value) == (
        "jobs=2 points at once cannot share one process executor instance: it serves one run "
        "at a time: pass its name, executor='process', and each point gets its own, or run one "
        "point at a time (jobs=1)"
    )


@pytest.mark.parametrize(
    ("args", "right"),
    [
        (["--grid", "fit:C=1,2"], "--grid fit.C=1,2"),
        (["--grid", "fit C=1,2"], "--grid fit.C=1,2"),
        (["--grid", "C=1,2"], "--grid ACTION.C=1,2"),
        (["--grid", "fit.C"], "--grid fit.C=V1,V2"),
        (["--random", "2", "--space", "fit:C=1:2"], "--space fit.C=1:2"),
    ],
)
def test_a_misspelled_grid_or_space_on_the_command_line_is_shown_spelled_right(
    parent: tuple[str, str], args: list[str], right: str
) -> None:
    # The hint was always 'e.g. --grid train_model.C=0.01,0.1,1', whatever was typed.
    store, run_id = parent
    result = CliRunner().invoke(cli, ["--store", store, "sweep", run_id, "--at", "fit", *args])
    (line,) = result.stderr.splitlines()
    assert result.exit_code == 2, result.output
    assert line.endswith(f": expected ACTION.PARAM=...: e.g. {right}"), line


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["--grid", "fit.C=1", "--grid", "fit.C=2,1"],
            "error: --grid sweeps fit.C twice: give all its values in one, --grid fit.C=1,2",
        ),
        (
            ["--random", "2", "--space", "fit.C=1:2", "--space", "fit.C=3:4"],
            "error: --space gives fit.C twice: give it one range, e.g. --space fit.C=LOW:HIGH",
        ),
    ],
)
def test_a_param_swept_twice_is_named_with_the_fix(
    parent: tuple[str, str], args: list[str], said: str
) -> None:
    # it said only '--grid: a param is swept twice', naming neither the param nor the fix
    store, run_id = parent
    result = CliRunner().invoke(cli, ["--store", store, "sweep", run_id, "--at", "fit", *args])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == said
