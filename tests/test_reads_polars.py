"""polars reads and writes files in Rust, raising no audit event: ``engine.native_reads``
reports the paths Python hands it (``pl.read_csv``, ``pl.scan_parquet``, a glob,
``df.write_parquet``, ``lf.sink_csv``), so they are file reads and writes like any other:
recorded with their digests, checked by ``--reuse``, refused undeclared under ``strict``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reads_flow import PATHS, cache_advice, run_one, use_private_tempdir
from reprolam import action
from reprolam.files import hash_file
from reprolam.trace.records import StepRecord, StepStatus

pl = pytest.importorskip("polars")
# bound when this module is collected, before any watched action installed the wrapping
early_read_csv = pl.read_csv


@pytest.fixture(autouse=True)
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = use_private_tempdir(tmp_path, monkeypatch)
    PATHS["csv"] = data / "samples.csv"
    pl.DataFrame({"value": [1, 2, 3]}).write_csv(PATHS["csv"])
    parts = PATHS["parts"] = data / "parts"
    parts.mkdir()
    pl.DataFrame({"value": [4]}).write_parquet(parts / "a.parquet")
    pl.DataFrame({"value": [5, 6]}).write_parquet(parts / "b.parquet")
    (parts / "notes.txt").write_text("not matched by the glob")
    return data


@action(outputs=["total"])
def sums_the_csv() -> int:
    return int(pl.read_csv(PATHS["csv"])["value"].sum())


@action(outputs=["total"])
def sums_the_parts() -> int:
    frame = pl.scan_parquet(f"{PATHS['parts']}/*.parquet").collect()
    return int(frame["value"].sum())


@action(outputs=["total"])
def sums_through_an_early_binding() -> int:
    return int(early_read_csv(PATHS["csv"])["value"].sum())


@action(outputs=["n"])
def writes_frames(*, where: str) -> int:
    pl.DataFrame({"value": [1]}).write_parquet(where)
    pl.DataFrame({"value": [2]}).lazy().sink_csv(where + ".csv")
    return 1


@action(outputs=["rows"])
def counts_rows(*, path: str) -> int:
    """Reads the file its param names: a declared read."""
    return len(pl.read_csv(path))


def _run(tmp_path: Path, fn: Any, **options: Any) -> StepRecord:
    return run_one(tmp_path, fn, **options).steps[0]


def _effects(step: StepRecord) -> list[tuple[str, str]]:
    effects = step.proposal.get("observed", {}).get("effects", [])
    return [(e["kind"], e["target"]) for e in effects]


def test_read_csv_is_a_read_with_the_files_digest(tmp_path: Path) -> None:
    step = _run(tmp_path, sums_the_csv)
    assert step.status is StepStatus.SUCCEEDED
    (read,) = step.proposal["observed"]["effects"]
    assert (read["kind"], read["target"]) == ("file_read", str(PATHS["csv"]))
    assert read["digest"] == hash_file(PATHS["csv"])
    assert read["declared"] is False


def test_reuse_executes_again_once_the_csv_changed(tmp_path: Path) -> None:
    first = _run(tmp_path, sums_the_csv)
    assert cache_advice(_run(tmp_path, sums_the_csv, reuse=True))["reused"] is True
    pl.DataFrame({"value": [1, 2, 30]}).write_csv(PATHS["csv"])
    again = _run(tmp_path, sums_the_csv, reuse=True)
    advice = cache_advice(again)
    assert advice["reused"] is False
    assert advice["changed"][0].startswith(f"file {PATHS['csv']}: content changed")
    assert first.outputs["total"] != again.outputs["total"]


def test_a_glob_reads_its_directory_listing_and_each_match(tmp_path: Path) -> None:
    parts = PATHS["parts"]
    step = _run(tmp_path, sums_the_parts)
    assert _effects(step) == [
        ("file_read", str(parts)),
        ("file_read", str(parts / "a.parquet")),
        ("file_read", str(parts / "b.parquet")),
    ]
    assert cache_advice(_run(tmp_path, sums_the_parts, reuse=True))["reused"] is True
    pl.DataFrame({"value": [7]}).write_parquet(parts / "c.parquet")  # a new match
    advice = cache_advice(_run(tmp_path, sums_the_parts, reuse=True))
    assert advice["reused"] is False
    assert advice["changed"][0].startswith(f"file {parts}:")


def test_a_reader_bound_before_the_watch_was_installed_still_reports(tmp_path: Path) -> None:
    step = _run(tmp_path, sums_through_an_early_binding)
    assert _effects(step) == [("file_read", str(PATHS["csv"]))]


def test_writes_and_sinks_are_writes_refused_undeclared_under_strict(tmp_path: Path) -> None:
    outside = str(PATHS["raw"].parent / "out.parquet")
    step = _run(tmp_path, writes_frames, where=outside)
    assert _effects(step) == [("file_write", outside), ("file_write", outside + ".csv")]
    refused = _run(tmp_path, writes_frames, effects="strict", where=outside + "2")
    assert refused.error is not None
    assert refused.error.type == "UndeclaredEffect"
    assert not Path(outside + "2").exists()  # stopped before polars wrote it


def test_strict_passes_a_declared_read(tmp_path: Path) -> None:
    step = _run(tmp_path, counts_rows, effects="strict", path=str(PATHS["csv"]))
    assert step.error is None
    assert step.proposal["observed"]["effects"][0]["declared"] is True


@action(outputs=["rows"])
def counts_home_rows() -> int:
    return len(pl.read_csv("~/samples.csv"))


def test_a_path_under_the_home_directory_is_the_file_polars_reads(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # polars (and pyarrow) expand "~": the read was recorded as a missing "./~/samples.csv",
    # so --reuse checked a path that never exists and took the old result
    monkeypatch.setenv("HOME", str(data))
    step = _run(tmp_path, counts_home_rows)
    (read,) = step.proposal["observed"]["effects"]
    assert (read["target"], read["digest"]) == (str(PATHS["csv"]), hash_file(PATHS["csv"]))
