"""Files opened by C code (pyarrow for ``pd.read_parquet`` and ``pq.read_table``, h5py) raise no
audit event: ``engine.native_reads`` reports the paths Python hands those libraries, so they
are file reads like any other: recorded with their digests, checked by ``--reuse``, refused
undeclared under ``strict``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reads_flow import PATHS, cache_advice, run_one, use_private_tempdir
from reprolam import action
from reprolam.engine.native_reads import _local_paths
from reprolam.files import hash_file
from reprolam.trace.records import StepRecord, StepStatus

pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
# bound when this module is collected, before any watched action installed the wrapping
early_read_table = pq.read_table


@pytest.fixture(autouse=True)
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = use_private_tempdir(tmp_path, monkeypatch)
    PATHS["parquet"] = data / "samples.parquet"
    pd.DataFrame({"value": [1, 2, 3]}).to_parquet(PATHS["parquet"])
    parts = PATHS["dataset"] = data / "dataset"
    (parts / "year=2024").mkdir(parents=True)
    (parts / "year=2025").mkdir()
    pd.DataFrame({"value": [4]}).to_parquet(parts / "year=2024" / "part-0.parquet")
    pd.DataFrame({"value": [5, 6]}).to_parquet(parts / "year=2025" / "part-0.parquet")
    (parts / "_SUCCESS").write_text("")  # pyarrow's discovery skips these two
    (parts / ".hidden.parquet").write_text("not parquet")
    return data


@action(outputs=["total"])
def sums_with_pandas() -> int:
    return int(pd.read_parquet(PATHS["parquet"])["value"].sum())


@action(outputs=["total"])
def sums_the_dataset() -> int:
    return int(pq.read_table(PATHS["dataset"]).column("value").to_pandas().sum())


@action(outputs=["rows"])
def counts_rows(*, path: str) -> int:
    """Reads the file its param names: a declared read."""
    return int(pq.ParquetFile(path).metadata.num_rows)


@action(outputs=["total"])
def sums_through_an_early_binding() -> int:
    """``from pyarrow.parquet import read_table`` at the top of a module imported first."""
    return int(early_read_table(PATHS["parquet"]).column("value").to_pandas().sum())


@action(outputs=["total"])
def sums_an_open_file() -> int:
    with open(PATHS["parquet"], "rb") as f:  # Python opened it: seen there, once
        return int(pq.read_table(f).column("value").to_pandas().sum())


def _run(
    tmp_path: Path, fn: Any, *, effects: str = "warn", reuse: bool = False, **params: Any
) -> StepRecord:
    return run_one(tmp_path, fn, effects=effects, reuse=reuse, **params).steps[0]


def _reads(step: StepRecord) -> list[dict[str, Any]]:
    effects = step.proposal.get("observed", {}).get("effects", [])
    return [e for e in effects if e["kind"] == "file_read"]


def test_pandas_read_parquet_is_a_read_with_the_files_digest(tmp_path: Path) -> None:
    step = _run(tmp_path, sums_with_pandas)
    assert step.status is StepStatus.SUCCEEDED
    (read,) = _reads(step)
    assert read["target"] == str(PATHS["parquet"])
    assert read["declared"] is False
    assert read["digest"] == hash_file(PATHS["parquet"])
    assert read.get("count", 1) == 1  # read_table's own ParquetDataset: not a second read


def test_reuse_executes_again_once_the_parquet_file_changed(tmp_path: Path) -> None:
    first = _run(tmp_path, sums_with_pandas)
    assert cache_advice(_run(tmp_path, sums_with_pandas, reuse=True))["reused"] is True
    pd.DataFrame({"value": [1, 2, 30]}).to_parquet(PATHS["parquet"])
    again = _run(tmp_path, sums_with_pandas, reuse=True)
    advice = cache_advice(again)
    assert advice["reused"] is False
    (why,) = advice["changed"]
    assert why.startswith(f"file {PATHS['parquet']}: content changed since the recorded run")
    assert first.outputs["total"] != again.outputs["total"]  # the new content, not the stale total


def test_a_partitioned_dataset_reads_its_listing_and_each_data_file(tmp_path: Path) -> None:
    step = _run(tmp_path, sums_the_dataset)
    assert step.status is StepStatus.SUCCEEDED
    parts = PATHS["dataset"]
    expected = [
        str(parts),
        *(str(parts / y / "part-0.parquet") for y in ("year=2024", "year=2025")),
    ]
    assert [r["target"] for r in _reads(step)] == expected
    assert "listing" in _reads(step)[0]
    # a changed partition is named by --reuse
    pd.DataFrame({"value": [40]}).to_parquet(parts / "year=2024" / "part-0.parquet")
    (why,) = cache_advice(_run(tmp_path, sums_the_dataset, reuse=True))["changed"]
    assert why.startswith(f"file {parts / 'year=2024' / 'part-0.parquet'}: content changed")


def test_strict_refuses_an_undeclared_parquet_read_and_passes_a_declared_one(
    tmp_path: Path,
) -> None:
    refused = _run(tmp_path, sums_with_pandas, effects="strict")
    assert refused.status is StepStatus.FAILED
    assert refused.error is not None
    assert refused.error.type == "UndeclaredEffect"
    assert f"file_read: {PATHS['parquet']}" in refused.error.message
    allowed = _run(tmp_path, counts_rows, effects="strict", path=str(PATHS["parquet"]))
    assert allowed.status is StepStatus.SUCCEEDED
    assert [(r["target"], r["declared"]) for r in _reads(allowed)] == [
        (str(PATHS["parquet"]), True)
    ]


def test_a_reader_bound_before_the_watch_was_installed_still_reports(tmp_path: Path) -> None:
    (read,) = _reads(_run(tmp_path, sums_through_an_early_binding))
    assert read["target"] == str(PATHS["parquet"])
    assert early_read_table is pq.read_table  # the same function: its code reports now


def test_a_file_python_opened_is_read_once(tmp_path: Path) -> None:
    (read,) = _reads(_run(tmp_path, sums_an_open_file))
    assert read["target"] == str(PATHS["parquet"])
    assert read.get("count", 1) == 1


def test_a_read_is_seen_when_the_action_itself_first_imports_pyarrow(tmp_path: Path) -> None:
    """A fresh process: pandas imports pyarrow.parquet inside the action, on its first read."""
    script = f"""
import json, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
import pandas as pd
import reprolam
from reprolam import action, workflow
assert "pyarrow.parquet" not in sys.modules

@action(outputs=["n"])
def load() -> int:
    return len(pd.read_parquet({str(PATHS["parquet"])!r}))

with reprolam.open("memory:") as rl:
    run = rl.run(workflow("fresh", [load], outputs=["n"]), planner="rules")
    effects = run.steps[0].proposal["observed"]["effects"]
print(json.dumps([[e["kind"], e["target"]] for e in effects]))
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == [["file_read", str(PATHS["parquet"])]]


@action(outputs=["n"])
def writes_parquet(*, where: str) -> int:
    import pyarrow.feather

    pq.write_table(pa.table({"value": [1]}), where)
    pyarrow.feather.write_feather(pd.DataFrame({"value": [2]}), where + ".2")
    return 1


def test_a_parquet_file_written_outside_the_scratch_is_a_write(tmp_path: Path) -> None:
    import tempfile

    outside = str(PATHS["raw"].parent / "out.parquet")
    step = _run(tmp_path, writes_parquet, where=outside)
    effects = step.proposal["observed"]["effects"]
    assert [(e["kind"], e["target"], e["declared"]) for e in effects] == [
        ("file_write", outside, False),
        ("file_write", outside + ".2", False),
    ]
    refused = _run(tmp_path, writes_parquet, effects="strict", where=outside)
    assert refused.error is not None
    assert refused.error.type == "UndeclaredEffect"
    scratch = str(Path(tempfile.gettempdir()) / "scratch.parquet")  # the action's own scratch
    assert _run(tmp_path, writes_parquet, effects="strict", where=scratch).error is None


@action(outputs=["n"])
def writes_with_pandas(*, where: str) -> int:
    """pandas opens a local target with ``pa.OSFile`` (C++) and hands pyarrow the file."""
    pd.DataFrame({"value": [1]}).to_parquet(where)
    return 1


@action(outputs=["total"])
def sums_a_memory_map() -> int:
    with pa.memory_map(str(PATHS["parquet"])) as mapped:  # opened in C++: no audit event
        return int(pq.read_table(mapped).column("value").to_pandas().sum())


def test_pandas_to_parquet_is_a_write(tmp_path: Path) -> None:
    outside = str(PATHS["raw"].parent / "frame.parquet")
    step = _run(tmp_path, writes_with_pandas, where=outside)
    effects = step.proposal["observed"]["effects"]
    assert [(e["kind"], e["target"]) for e in effects] == [("file_write", outside)]
    refused = _run(tmp_path, writes_with_pandas, effects="strict", where=outside)
    assert refused.error is not None
    assert refused.error.type == "UndeclaredEffect"
    assert outside in refused.error.message


def test_a_file_pyarrow_mapped_itself_is_a_read_checked_by_reuse(tmp_path: Path) -> None:
    first = _run(tmp_path, sums_a_memory_map)
    (read,) = _reads(first)
    assert read["target"] == str(PATHS["parquet"].resolve())
    assert read["digest"] == hash_file(PATHS["parquet"])
    pd.DataFrame({"value": [10]}).to_parquet(PATHS["parquet"])
    advice = cache_advice(_run(tmp_path, sums_a_memory_map, reuse=True))
    assert advice["reused"] is False
    assert advice["changed"][0].startswith(f"file {PATHS['parquet'].resolve()}: content changed")


def test_a_file_pyarrow_opened_in_memory_names_no_path() -> None:
    assert list(_local_paths(pa.BufferOutputStream())) == []
    closed = pa.OSFile(str(PATHS["parquet"]))
    closed.close()
    assert list(_local_paths(closed)) == []


@action(outputs=["n"])
def builds_a_table() -> int:
    return int(pa.table({"value": [1, 2]}).num_rows)


def test_a_variable_compiled_code_looks_up_is_not_the_actions_read(tmp_path: Path) -> None:
    """``pa.table()`` (Cython) reads ``$PYARROW_IGNORE_TIMEZONE``: compiled code has no frame,
    so the lookup was seen from the action's own frame and refused under strict."""
    step = _run(tmp_path, builds_a_table, effects="strict")
    assert step.error is None
    assert step.proposal.get("observed") is None


@pytest.mark.parametrize(
    ("given", "paths"),
    [
        ("/data/a.parquet", ["/data/a.parquet"]),
        (Path("/data/a.parquet"), ["/data/a.parquet"]),
        (b"/data/a.parquet", ["/data/a.parquet"]),
        ("file:///data/my%20a.parquet", ["/data/my a.parquet"]),
        ("file://localhost/data/a.parquet", ["/data/a.parquet"]),
        (["/data/a.parquet", Path("/data/b.parquet")], ["/data/a.parquet", "/data/b.parquet"]),
        ("s3://bucket/a.parquet", []),
        ("file://elsewhere/data/a.parquet", []),
        (3, []),  # a file descriptor: not a path
    ],
)
def test_which_paths_a_reader_was_handed(given: Any, paths: list[str]) -> None:
    assert list(_local_paths(given)) == paths


def test_hdf5_reads_and_writes_are_seen(tmp_path: Path) -> None:
    h5py = pytest.importorskip("h5py")
    stored = PATHS["raw"].parent / "grid.h5"
    with h5py.File(stored, "w") as f:
        f["x"] = [1, 2, 3]
    made = PATHS["raw"].parent / "made.h5"

    @action(outputs=["total"], side_effects=("filesystem",))
    def copies_the_grid() -> int:
        with h5py.File(stored) as source, h5py.File(made, "w") as target:
            target["x"] = source["x"][()]
            return int(source["x"][()].sum())

    step = _run(tmp_path, copies_the_grid)
    assert step.status is StepStatus.SUCCEEDED
    effects = step.proposal["observed"]["effects"]
    kinds = {(e["kind"], e["target"]) for e in effects}
    assert kinds == {("file_read", str(stored)), ("file_write", str(made))}
    (read,) = _reads(step)
    assert read["digest"] == hash_file(stored)


def test_a_library_of_an_unknown_layout_still_imports(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wrapping must never break the library: whatever goes wrong, it works, unwatched."""
    from types import ModuleType

    from reprolam.engine import native_reads

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("an unexpected layout")

    monkeypatch.setattr(native_reads, "_reporting", broken)
    fake = ModuleType("pyarrow.orc")

    def read_table(source: Any) -> str:
        return f"read {source}"

    fake.read_table = read_table  # type: ignore[attr-defined]
    native_reads._wrap_module(fake)
    assert fake.read_table("x") == "read x"  # type: ignore[attr-defined]
