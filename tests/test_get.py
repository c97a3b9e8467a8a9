"""reprolam get: one artifact out, in an open format, digest-checked, nothing replayed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from reprolam import action, workflow
from reprolam.cli.main import cli
from reprolam.engine.engine import Engine
from reprolam.errors import ConfigError, NotFoundError
from reprolam.planning.rules import ScriptPlanner
from reprolam.results import get_artifact
from reprolam.trace.open import open_store


@action(outputs=["table", "matrix"])
def load() -> tuple[pd.DataFrame, np.ndarray]:
    frame = pd.DataFrame({"x": [1.5, 2.5], "name": ["a", "b"]})
    return frame, np.arange(6, dtype=np.int32).reshape(2, 3)


@action(outputs=["notes", "metrics"])
def report(table: pd.DataFrame) -> tuple[str, dict[str, Any]]:
    return "# Notes\n\nfine\n", {"mean": float(table["x"].mean())}


@action(outputs=["notes"])
def revise(notes: str) -> str:
    return notes + "revised\n"


flow = workflow("get-flow", [load, report, revise], outputs=["table", "notes", "metrics"])


def invoke(store: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--store", str(store), *args], catch_exceptions=False)


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[Path, str]:
    with open_store(tmp_path / "store") as store:
        result = Engine(store).run(flow, planner=ScriptPlanner())
        assert result.succeeded
        return tmp_path / "store", result.id


def test_each_type_in_its_default_format(recorded: tuple[Path, str], tmp_path: Path) -> None:
    store, run_id = recorded
    with open_store(store) as trace:
        table = get_artifact(trace, run_id, "table", out=tmp_path / "t.csv")
        assert table.format == "csv"
        assert table.step == 0
        assert pd.read_csv(tmp_path / "t.csv", index_col=0)["name"].tolist() == ["a", "b"]
        matrix = get_artifact(trace, run_id, "load.matrix", out=tmp_path / "m.npy")
        assert matrix.format == "npy"
        assert np.load(tmp_path / "m.npy").tolist() == [[0, 1, 2], [3, 4, 5]]
        notes = get_artifact(trace, run_id, "notes", out=tmp_path / "notes.md")
        assert notes.format == "txt"
        assert notes.step == 2
        assert (tmp_path / "notes.md").read_text().endswith("revised\n")
        earlier = get_artifact(trace, run_id, "1.notes", out=tmp_path / "first.md")
        assert (tmp_path / "first.md").read_text() == "# Notes\n\nfine\n"
        assert earlier.step == 1
        get_artifact(trace, run_id, "metrics", out=tmp_path / "m.json")
        assert json.loads((tmp_path / "m.json").read_text()) == {"mean": 2.0}


def test_cli_json_and_default_path(
    recorded: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, run_id = recorded
    monkeypatch.chdir(tmp_path)
    result = invoke(store.absolute(), "get", run_id[:18], "metrics", "--json")
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    assert got["path"] == "metrics.json"
    assert got["codec"] == "json"
    assert json.loads(Path("metrics.json").read_text()) == {"mean": 2.0}
    native = invoke(store.absolute(), "get", run_id, "table", "--as", "native", "-o", "t.bin")
    assert native.exit_code == 0
    assert Path("t.bin").read_bytes().startswith(b"\x93RLC")


def test_parquet_when_pyarrow_is_there(recorded: tuple[Path, str], tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    store, run_id = recorded
    with open_store(store) as trace:
        get_artifact(trace, run_id, "table", out=tmp_path / "t.parquet", as_="parquet")
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "t.parquet"), pd.DataFrame({"x": [1.5, 2.5], "name": ["a", "b"]})
    )


def test_mistakes_name_the_problem(recorded: tuple[Path, str], tmp_path: Path) -> None:
    store, run_id = recorded
    with open_store(store) as trace:
        with pytest.raises(NotFoundError, match=r"no artifact 'nope'.*table"):
            get_artifact(trace, run_id, "nope")
        with pytest.raises(ConfigError, match="not a frame"):
            get_artifact(trace, run_id, "notes", as_="csv", out=tmp_path / "x.csv")
        with pytest.raises(ConfigError, match="not PNG"):
            get_artifact(trace, run_id, "notes", as_="png", out=tmp_path / "x.png")
    bad = invoke(store, "get", run_id, "table", "--as", "xls")
    assert bad.exit_code == 2
    missing = invoke(store, "get", run_id, "nope")
    assert missing.exit_code == 2
    assert missing.output.startswith("error: run")


def test_a_damaged_artifact_is_refused_not_exported(
    recorded: tuple[Path, str], tmp_path: Path
) -> None:
    import sqlite3

    store, run_id = recorded
    with open_store(store) as trace:
        key = trace.get_run(run_id).outputs["metrics"]
    db = sqlite3.connect(store / "trace.db")
    db.execute("UPDATE artifacts SET data = ? WHERE digest = ?", (b'{"mean":3.0}', key))
    db.commit()
    db.close()
    result = invoke(store, "get", run_id, "metrics", "-o", str(tmp_path / "m.json"))
    assert result.exit_code == 2, result.output
    assert key in result.output  # the damaged artifact is named
    assert not (tmp_path / "m.json").exists()


def test_the_get_command_lists_the_formats_results_knows() -> None:
    """get_cmd keeps its --as choices literal, so --help does not import pandas."""
    from reprolam.cli.get_cmd import FORMATS as LISTED
    from reprolam.results import FORMATS

    assert LISTED == FORMATS


@action(outputs=["adjacency"])
def connect() -> Any:
    from scipy import sparse

    return sparse.csr_matrix(np.array([[0, 2.5, 0], [0, 0, -1.0], [4.0, 0, 0]]))


def test_a_sparse_matrix_comes_out_as_scipy_npz(tmp_path: Path) -> None:
    from scipy import sparse

    with open_store(tmp_path / "store") as trace:
        flow = workflow("sparse", [connect], outputs=["adjacency"])
        result = Engine(trace).run(flow, planner=ScriptPlanner())
        got = get_artifact(trace, result.id, "adjacency", out=tmp_path / "adj")
        assert got.format == "npz"
        loaded = sparse.load_npz(tmp_path / "adj")  # no suffix added: the path asked for
        assert (loaded != result.outputs["adjacency"]).nnz == 0
        again = get_artifact(trace, result.id, "adjacency", out=tmp_path / "a.npz")
        assert sparse.load_npz(tmp_path / "a.npz").shape == (3, 3)
        assert again.format == "npz"


def test_the_out_extension_picks_the_format(recorded: tuple[Path, str], tmp_path: Path) -> None:
    store, run_id = recorded
    with open_store(store) as trace:
        as_npy = get_artifact(trace, run_id, "load.matrix", out=tmp_path / "m.NPY")
        assert as_npy.format == "npy"
        as_json = get_artifact(trace, run_id, "load.matrix", out=tmp_path / "m.json")
        assert json.loads((tmp_path / "m.json").read_text()) == [[0, 1, 2], [3, 4, 5]]
        assert as_json.format == "json"
        explicit = get_artifact(trace, run_id, "notes", out=tmp_path / "n.json", as_="txt")
        assert explicit.format == "txt"  # --as wins over the extension
        with pytest.raises(ConfigError, match="not a sparse matrix"):
            get_artifact(trace, run_id, "load.matrix", out=tmp_path / "m.npz")
        assert not (tmp_path / "m.npz").exists()


@action(outputs=["keys", "wide", "sparse"])
def _lossy() -> tuple[dict[Any, str], pd.DataFrame, Any]:
    from scipy import sparse

    frame = pd.DataFrame([[1, 2]], columns=["a", "a"])
    return {1: "int-one", "1": "str-one"}, frame, sparse.csr_matrix(np.eye(3))


def test_get_as_json_refuses_what_json_would_lose(tmp_path: Path) -> None:
    """A dict with keys 1 and "1" lost one, a frame with a duplicate column name lost one,
    and a sparse matrix was written as a summary: files that hold something else."""
    store = tmp_path / "store"
    with open_store(store) as trace:
        run = Engine(trace).run(
            workflow("lossy", [_lossy], outputs=["keys", "wide", "sparse"]),
            planner=ScriptPlanner(),
        )
    for name, said in (
        ("keys", "are the same text"),
        ("wide", "duplicate column names"),
        ("sparse", "get it as native, npy, npz"),
    ):
        result = invoke(store, "get", run.id, name, "--as", "json", "-o", str(tmp_path / name))
        assert result.exit_code == 2, result.output
        assert said in " ".join(result.output.split()), result.output
        assert not (tmp_path / name).exists()


def test_an_unknown_extension_is_written_with_a_warning_naming_what_it_holds(
    recorded: tuple[Path, str], tmp_path: Path
) -> None:
    """-o table.xlsx wrote CSV into a .xlsx file, silently."""
    store, run_id = recorded
    target = tmp_path / "table.xlsx"
    result = invoke(store, "get", run_id, "load.table", "-o", str(target))
    assert result.exit_code == 0, result.output
    assert "warning:" in result.stderr
    assert ".xlsx is not a format get writes, so it holds csv" in " ".join(result.stderr.split())
    assert "--as FORMAT" in result.stderr
    quiet = invoke(store, "get", run_id, "load.table", "-o", str(tmp_path / "t.tsv"), "--as", "csv")
    assert quiet.exit_code == 0
    assert "warning" not in quiet.stderr  # the format was chosen


@action(outputs=["lil", "dok"])
def _incremental() -> tuple[Any, Any]:
    from scipy import sparse

    dense = np.array([[0, 2.5, 0], [0, 0, -1.0]])
    return sparse.lil_matrix(dense), sparse.dok_array(dense)


def test_a_lil_or_dok_matrix_comes_out_as_npz_of_its_csr(tmp_path: Path) -> None:
    """scipy's save_npz writes no lil or dok: their default format (npz) was a traceback."""
    from scipy import sparse

    store = tmp_path / "store"
    with open_store(store) as trace:
        flow = workflow("incremental", [_incremental], outputs=["lil", "dok"])
        run = Engine(trace).run(flow, planner=ScriptPlanner())
    for name in ("lil", "dok"):
        result = invoke(store, "get", run.id, name, "-o", str(tmp_path / f"{name}.npz"))
        assert result.exit_code == 0, result.output
        loaded = sparse.load_npz(tmp_path / f"{name}.npz")
        assert loaded.format == "csr"
        assert np.array_equal(loaded.toarray(), [[0, 2.5, 0], [0, 0, -1.0]])


@action(outputs=["name"])
def _undecodable_name() -> str:
    return "caf\udce9.csv"  # a file name that is not UTF-8, as os.listdir decodes it


def test_text_that_is_not_valid_unicode_comes_out_as_json_not_a_traceback(
    tmp_path: Path,
) -> None:
    """Its default format was txt, and writing it a UnicodeEncodeError traceback."""
    store = tmp_path / "store"
    with open_store(store) as trace:
        flow = workflow("undecodable", [_undecodable_name], outputs=["name"])
        run = Engine(trace).run(flow, planner=ScriptPlanner())
    result = invoke(store, "get", run.id, "name", "-o", str(tmp_path / "name"))
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "name").read_text()) == "caf\udce9.csv"
    as_txt = invoke(store, "get", run.id, "name", "--as", "txt", "-o", str(tmp_path / "n.txt"))
    assert as_txt.exit_code == 2, as_txt.output
    assert "get it as native, json" in " ".join(as_txt.stderr.split())
    assert not (tmp_path / "n.txt").exists()


@action(outputs=["readings"])
def _masked() -> Any:
    return np.ma.masked_array([1.5, -999.0, 2.5], mask=[False, True, False])


def test_a_masked_array_is_refused_as_npy_and_written_as_json_with_nulls(
    tmp_path: Path,
) -> None:
    """--as npy was a NotImplementedError traceback (and .npy has no place for the mask)."""
    store = tmp_path / "store"
    with open_store(store) as trace:
        run = Engine(trace).run(
            workflow("masked", [_masked], outputs=["readings"]), planner=ScriptPlanner()
        )
    as_npy = invoke(store, "get", run.id, "readings", "-o", str(tmp_path / "r.npy"))
    assert as_npy.exit_code == 2, as_npy.output
    assert "get it as native, json" in " ".join(as_npy.stderr.split())
    assert not (tmp_path / "r.npy").exists()
    as_json = invoke(store, "get", run.id, "readings", "-o", str(tmp_path / "r.json"))
    assert as_json.exit_code == 0, as_json.output
    assert json.loads((tmp_path / "r.json").read_text()) == [1.5, None, 2.5]


@action(outputs=["stamps", "waits", "precise"])
def _fine_units() -> tuple[Any, Any, Any]:
    stamps = np.array(["2020-01-01T00:00:00.000000001", "NaT"], dtype="datetime64[ns]")
    waits = np.array([1_500_000_000, "NaT"], dtype="timedelta64[ns]")
    return stamps, waits, np.array([1.5], dtype=np.longdouble)


def test_json_of_nanosecond_times_says_dates_and_seconds_and_refuses_long_doubles(
    tmp_path: Path,
) -> None:
    """datetime64[ns] came out as nanoseconds since 1970 and timedelta64[ns] as nanoseconds
    (a microsecond unit gives dates and seconds); a long double was a RecursionError."""
    store = tmp_path / "store"
    with open_store(store) as trace:
        flow = workflow("fine", [_fine_units], outputs=["stamps", "waits", "precise"])
        run = Engine(trace).run(flow, planner=ScriptPlanner())
        for name, expected in (
            ("stamps", ["2020-01-01T00:00:00.000000001", None]),
            ("waits", [1.5, None]),
        ):
            get_artifact(trace, run.id, name, out=tmp_path / f"{name}.json")
            assert json.loads((tmp_path / f"{name}.json").read_text()) == expected
    result = invoke(store, "get", run.id, "precise", "-o", str(tmp_path / "p.json"))
    assert result.exit_code == 2, result.output
    assert "get it as npy or native" in " ".join(result.stderr.split())
    assert not (tmp_path / "p.json").exists()


@action(outputs=["heights"])
def _series() -> pd.Series:
    return pd.Series([1.5, 2.0], index=["a", "b"], name="height")


def test_a_series_as_json_holds_its_values_not_a_summary(tmp_path: Path) -> None:
    """json was offered for a Series and wrote {"$type": "pandas.Series", "summary": ...}."""
    store = tmp_path / "store"
    with open_store(store) as trace:
        run = Engine(trace).run(
            workflow("series", [_series], outputs=["heights"]), planner=ScriptPlanner()
        )
        get_artifact(trace, run.id, "heights", out=tmp_path / "h.json")
    assert json.loads((tmp_path / "h.json").read_text()) == [
        {"index": "a", "height": 1.5},
        {"index": "b", "height": 2.0},
    ]


@action(outputs=["indexed"])
def _indexed_by_a_column() -> pd.DataFrame:
    return pd.DataFrame({"site": ["x", "y"], "n": [1, 2]}).set_index("site", drop=False)


def test_a_frame_indexed_by_one_of_its_columns_is_refused_as_json_in_one_line(
    tmp_path: Path,
) -> None:
    """set_index("site", drop=False) gave a ValueError traceback ('cannot insert site')."""
    store = tmp_path / "store"
    with open_store(store) as trace:
        run = Engine(trace).run(
            workflow("indexed", [_indexed_by_a_column], outputs=["indexed"]),
            planner=ScriptPlanner(),
        )
    result = invoke(store, "get", run.id, "indexed", "--as", "json", "-o", str(tmp_path / "i"))
    assert result.exit_code == 2, result.output
    assert "index names ['site'] clash with its column names" in " ".join(result.stderr.split())
    assert not (tmp_path / "i").exists()
    as_csv = invoke(store, "get", run.id, "indexed", "-o", str(tmp_path / "i.csv"))
    assert as_csv.exit_code == 0, as_csv.output


@action(outputs=["model"])
def _fitted() -> Any:
    from sklearn.linear_model import LinearRegression

    return LinearRegression().fit([[0.0], [1.0]], [0.0, 2.0])


def test_a_model_written_under_another_formats_name_says_it_holds_reprolams_encoding(
    tmp_path: Path,
) -> None:
    """-o model.pkl wrote reprolam's model encoding into a .pkl file, silently."""
    store = tmp_path / "store"
    with open_store(store) as trace:
        run = Engine(trace).run(
            workflow("fitted", [_fitted], outputs=["model"]), planner=ScriptPlanner()
        )
    named = invoke(store, "get", run.id, "model", "-o", str(tmp_path / "model.pkl"))
    assert named.exit_code == 0, named.output
    assert ".pkl is not a format get writes, so it holds reprolam's model encoding (native)" in (
        " ".join(named.stderr.split())
    )
    for quiet in (("-o", str(tmp_path / "m.rlc")), ("--as", "native", "-o", str(tmp_path / "m"))):
        result = invoke(store, "get", run.id, "model", *quiet)
        assert result.exit_code == 0, result.output
        assert "warning" not in result.stderr


class _Columns:
    """A table of another library (a polars frame, say): it has columns, it is not pandas's."""

    columns = ("a", "b")
    dtypes = ("i64", "str")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Columns)

    __hash__ = object.__hash__


@action(outputs=["table"])
def _foreign_table() -> Any:
    return _Columns()


def test_a_table_of_another_library_is_not_offered_as_csv_it_cannot_be_written_as(
    tmp_path: Path,
) -> None:
    """A pickled polars frame was offered as csv and parquet, then refused as 'not a frame:
    get it as json or native' (json was not offered either)."""
    from reprolam.codecs import default_serializer

    store = tmp_path / "store"
    with open_store(store) as trace:
        engine = Engine(trace, serializer=default_serializer(trusted=True))
        run = engine.run(
            workflow("foreign", [_foreign_table], outputs=["table"]), planner=ScriptPlanner()
        )
    args = ["--trust-pickle", "get", run.id, "table", "--as", "csv", "-o", str(tmp_path / "t")]
    result = CliRunner().invoke(cli, ["--store", str(store), *args])
    assert result.exit_code == 2, result.output
    said = " ".join(result.stderr.split())
    assert "test_get._Columns), not a frame" in said  # named in full: it is not pandas's
    assert said.endswith("get it as native")


def test_native_writes_a_pickles_stored_bytes_without_trust(tmp_path: Path) -> None:
    """--as native writes the stored bytes: a pickle needs no trust for that (it is not
    loaded). It was refused ('load the store with --trust-pickle'), and with the trust the
    class of a workflow file's value could not be imported, so no command got it out."""
    from reprolam.codecs import default_serializer

    store = tmp_path / "store"
    with open_store(store) as trace:
        engine = Engine(trace, serializer=default_serializer(trusted=True))
        run = engine.run(
            workflow("foreign", [_foreign_table], outputs=["table"]), planner=ScriptPlanner()
        )
        record, stored = trace.get_artifact(trace.get_run(run.id).outputs["table"])
    assert record.codec == "pickle"
    out = tmp_path / "table.pkl"
    result = invoke(store, "get", run.id, "table", "--as", "native", "-o", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["format"] == "native"
    assert out.read_bytes() == stored
    to_stdout = CliRunner().invoke(
        cli, ["--store", str(store), "get", run.id, "table", "--as", "native", "-o", "-"]
    )
    assert to_stdout.exit_code == 0, to_stdout.output
    assert to_stdout.stdout_bytes == stored
    refused = invoke(store, "get", run.id, "table", "-o", str(tmp_path / "t.json"))
    assert refused.exit_code == 2  # other formats load the value: that still needs the trust
    assert "--trust-pickle" in refused.output


def test_a_pickle_is_written_native_by_default_without_loading_it(tmp_path: Path) -> None:
    """native is a pickle's default format, but with no --as get loaded the value first to
    find that out: refused without --trust-pickle, and with it a class a workflow file
    defined could not be imported ('No module named reprolam_user_workflow_...')."""
    from reprolam.codecs import default_serializer

    store = tmp_path / "store"
    with open_store(store) as trace:
        engine = Engine(trace, serializer=default_serializer(trusted=True))
        run = engine.run(
            workflow("foreign", [_foreign_table], outputs=["table"]), planner=ScriptPlanner()
        )
        _record, stored = trace.get_artifact(trace.get_run(run.id).outputs["table"])
    folder = tmp_path / "out"
    folder.mkdir()
    result = invoke(store, "get", run.id, "table", "-o", str(folder), "--json")
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert got["format"] == "native"
    assert Path(got["path"]).read_bytes() == stored
