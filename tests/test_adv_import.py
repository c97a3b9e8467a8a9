"""An adversary's crates: ``import`` trusts nothing in them.

A crate whose run record was edited (status, verdict, outputs, seed, a removed seal, an
artifact's codec), whose trace lost its first or last step, or whose records are not
records at all is refused in one line before anything is written; a legitimate crate of
an LLM-planned run imports and audits clean.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import reprolam
from reprolam import action, workflow
from reprolam.cli.main import cli
from reprolam.errors import IntegrityError
from reprolam.provenance import CrateError, import_crate
from reprolam.trace.memory import MemoryStore
from reprolam.trace.sqlite import SQLiteStore
from test_adv_redact import crates

pytest.importorskip("rocrate", reason="pip install 'reprolam[provenance]'")

__all__ = ["crates"]  # the fixture


def edited(crates: dict[str, Any], tmp_path: Path, edit: Callable[[dict[str, Any]], Any]) -> Path:
    """A copy of the plain crate with its trace.json edited by ``edit``."""
    crate = tmp_path / "crate"
    shutil.copytree(crates["root"] / "plain", crate)
    path = crate / "reprolam" / "trace.json"
    trace = json.loads(path.read_text())
    edit(trace)
    path.write_text(json.dumps(trace))
    return crate


def _run(trace: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in trace["runs"] if r["id"] == trace["run"])


def _steps(trace: dict[str, Any]) -> list[dict[str, Any]]:
    return list(trace["steps"][trace["run"]])


def _codec(trace: dict[str, Any]) -> None:
    """A step output's codec (the code record's: ``test_a_code_record_under_another_codec``)."""
    outputs = [d for s in _steps(trace) for d in s["outputs"].values()]
    entry = next(trace["artifacts"][d] for d in outputs if trace["artifacts"][d]["codec"] == "json")
    entry["codec"] = "npy"


RECORD_EDITS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "status": lambda t: _run(t).update(status="failed"),
    "verdict": lambda t: _run(t).update(verdict="identical"),
    "outputs": lambda t: _run(t).update(outputs={"report": _run(t)["environment"]}),
    "seed": lambda t: _run(t).update(seed=8),
    "seal removed": lambda t: _run(t).update(seal=None),
    "seed NaN": lambda t: _run(t).update(seed=float("nan")),
    "created_at text": lambda t: _run(t).update(created_at="yesterday"),
    "first step dropped": lambda t: t["steps"][t["run"]].pop(0),
    "last step dropped": lambda t: t["steps"][t["run"]].pop(),
    "artifact codec": _codec,
}


@pytest.mark.parametrize("edit", list(RECORD_EDITS), ids=list(RECORD_EDITS))
def test_an_edited_run_record_is_refused_and_nothing_is_written(
    crates: dict[str, Any], tmp_path: Path, edit: str
) -> None:
    crate = edited(crates, tmp_path, RECORD_EDITS[edit])
    store = MemoryStore()
    with pytest.raises(IntegrityError, match="nothing was imported") as info:
        import_crate(store, crate)
    assert f"run {crates['plain']}" in str(info.value)
    assert store.list_runs() == []


ABSENT = "01a00000-0000-7000-8000-000000000000"  # a run id no crate here carries

MALFORMED: dict[str, Callable[[dict[str, Any]], Any]] = {
    "unknown run field": lambda t: _run(t).update(bogus=1),
    "unknown run status": lambda t: _run(t).update(status="bogus"),
    "run without id": lambda t: _run(t).pop("id"),
    "run not an object": lambda t: t["runs"].append(5),
    "unknown step kind": lambda t: _steps(t)[0].update(kind="weird"),
    "unknown step field": lambda t: _steps(t)[0].update(zzz=1),
    "error not an error": lambda t: next(s for s in _steps(t) if s["error"]).update(error={"x": 1}),
    "steps not a list": lambda t: t["steps"].update({t["run"]: "no"}),
    "run not carried": lambda t: t.update(run=ABSENT),
    "parent not carried": lambda t: _run(t).update(parent_id=ABSENT, fork_index=1),
    "steps of another run": lambda t: t["steps"].update({ABSENT: _steps(t)}),
    # 'run ... already exists in ...: create the run under a new id', advice for no crate
    "run listed twice": lambda t: t["runs"].append(dict(_run(t))),
}


@pytest.mark.parametrize("edit", list(MALFORMED), ids=list(MALFORMED))
def test_malformed_records_are_one_line_not_a_traceback(
    crates: dict[str, Any], tmp_path: Path, edit: str
) -> None:
    crate = edited(crates, tmp_path, MALFORMED[edit])
    store = tmp_path / "lab"
    result = CliRunner().invoke(cli, ["--store", str(store), "import", str(crate)])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: reprolam/trace.json in crate")
    assert "nothing was imported" in line
    with SQLiteStore(store) as trace:
        assert trace.list_runs() == []


def _unsealed(edit: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
    """``edit``, on a crate made self-consistent around it: the run without a header hash or
    seal (as runs recorded before those existed are), every step's hash recomputed."""
    from reprolam.trace.records import ErrorInfo, StepKind, StepRecord, StepStatus, step_hash

    def apply(trace: dict[str, Any]) -> None:
        _run(trace).update(header_hash=None, seal=None)
        edit(trace)
        before = ""  # the genesis of a chain with no header hash
        for data in _steps(trace):
            data["prev_hash"] = before
            error = data["error"]
            step = StepRecord(
                **{
                    **data,
                    "kind": StepKind(data["kind"]),
                    "status": StepStatus(data["status"]),
                    "error": None if error is None else ErrorInfo(**error),
                }
            )
            data["hash"] = before = step_hash(step)

    return apply


ILL_TYPED: dict[str, Callable[[dict[str, Any]], Any]] = {
    "created_at NaN": lambda t: _run(t).update(created_at=float("nan")),
    "created_at 1e300": lambda t: _run(t).update(created_at=1e300),
    "finished_at text": lambda t: _run(t).update(finished_at="later"),
    "fork_index text": lambda t: _run(t).update(fork_index="1"),
    "run error an object": lambda t: _run(t).update(error={"a": 1}),
    "step started_at 1e300": lambda t: _steps(t)[0].update(started_at=1e300),
    "step duration text": lambda t: _steps(t)[0].update(duration="long"),
    "step index text": lambda t: _steps(t)[0].update(index="0"),
    "step outputs a list": lambda t: _steps(t)[0].update(outputs=["data"]),
}


@pytest.mark.parametrize("edit", list(ILL_TYPED), ids=list(ILL_TYPED))
def test_a_self_consistent_crate_of_ill_typed_records_is_one_line_not_a_traceback(
    crates: dict[str, Any], tmp_path: Path, edit: str
) -> None:
    """Hashes are unkeyed, so a crafted crate can be consistent around any value: a time as
    text or 1e300, an index as "0", outputs as a list. Each was a traceback (OverflowError,
    TypeError, ...) from deep in the import; each field's kind is checked now."""
    crate = edited(crates, tmp_path, _unsealed(ILL_TYPED[edit]))
    store = tmp_path / "lab"
    result = CliRunner().invoke(cli, ["--store", str(store), "import", str(crate)])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: reprolam/trace.json in crate"), line
    assert "holds records that are not reprolam's" in line
    with SQLiteStore(store) as trace:
        assert trace.list_runs() == []


def _json_artifact(crate: Path) -> Path:
    trace = json.loads((crate / "reprolam" / "trace.json").read_text())
    entry = next(e for e in trace["artifacts"].values() if e["codec"] == "json")
    return crate / entry["path"]


def test_an_artifact_bigger_than_declared_is_refused_without_inflating_it(
    crates: dict[str, Any], tmp_path: Path
) -> None:
    """A zip member of 64 MiB of zeros (a few KiB compressed) where the trace says 100-odd
    bytes: refused after reading one byte more than declared."""
    source = tmp_path / "crate"
    shutil.copytree(crates["root"] / "plain", source)
    victim = _json_artifact(source).relative_to(source).as_posix()
    crate = tmp_path / "bomb.zip"
    with zipfile.ZipFile(crate, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(p for p in source.rglob("*") if p.is_file()):
            name = file.relative_to(source).as_posix()
            if name == victim:
                archive.writestr(name, bytes(64 << 20))
            else:
                archive.write(file, name)
    assert crate.stat().st_size < 1 << 20
    store = MemoryStore()
    with pytest.raises(IntegrityError, match="holds more than the"):
        import_crate(store, crate)
    assert store.list_runs() == []


def _zipped(source: Path, crate: Path, replace: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(crate, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(p for p in source.rglob("*") if p.is_file()):
            name = file.relative_to(source).as_posix()
            if replace and name in replace:
                archive.writestr(name, replace[name])
            else:
                archive.write(file, name)
    return crate


@pytest.mark.parametrize("member", ["reprolam/trace.json", "ro-crate-metadata.json"])
def test_a_record_file_that_inflates_past_the_limit_is_refused_without_reading_it(
    crates: dict[str, Any], tmp_path: Path, member: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A zip of a few KiB whose trace.json (or metadata) inflates to 64 MiB was read whole
    and parsed: a zip bomb (a 1.5 MB zip took 3 GB of memory)."""
    crate = _zipped(
        crates["root"] / "plain", tmp_path / "bomb.zip", {member: b" " * (64 << 20) + b"{}"}
    )
    assert crate.stat().st_size < 1 << 20
    monkeypatch.setenv("REPROLAM_IMPORT_MAX_BYTES", str(16 << 20))  # records: 1 MiB each
    store = MemoryStore()
    with pytest.raises(CrateError, match="over the import limit") as info:
        import_crate(store, crate)
    assert member in str(info.value)
    assert "REPROLAM_IMPORT_MAX_BYTES" in str(info.value)
    assert store.list_runs() == []


@action(outputs=["blob"])
def _megabyte() -> bytes:
    return bytes(range(256)) * 4096


MEGABYTE_FLOW = workflow("megabyte", [_megabyte], outputs=["blob"])


def test_a_crate_over_the_import_limit_in_all_is_refused_naming_how_to_raise_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with reprolam.open(tmp_path / "a") as rl:
        run = rl.run(MEGABYTE_FLOW, planner="script")
        rl.export(run.id, format="rocrate", output=tmp_path / "crate.zip")
    into = ["--store", str(tmp_path / "b"), "import", str(tmp_path / "crate.zip")]
    monkeypatch.setenv("REPROLAM_IMPORT_MAX_BYTES", str(512 << 10))
    done = CliRunner().invoke(cli, into)
    assert done.exit_code == 2
    assert done.stderr.startswith("error: ")
    assert "holds more than that in all" in done.stderr
    assert "set REPROLAM_IMPORT_MAX_BYTES to a larger number" in done.stderr
    monkeypatch.setenv("REPROLAM_IMPORT_MAX_BYTES", str(2 << 20))
    done = CliRunner().invoke(cli, into)
    assert done.exit_code == 0, done.stderr
    monkeypatch.setenv("REPROLAM_IMPORT_MAX_BYTES", "lots")
    done = CliRunner().invoke(cli, into)
    assert done.exit_code == 2
    assert "REPROLAM_IMPORT_MAX_BYTES='lots' is not a number of bytes" in done.stderr


def _artifact_path(path: str) -> Callable[[dict[str, Any]], Any]:
    def edit(trace: dict[str, Any]) -> None:
        next(iter(trace["artifacts"].values()))["path"] = path

    return edit


@pytest.mark.parametrize(
    ("where", "said"),
    [
        ("/etc/hostname", "is not a path inside the crate"),
        ("../../outside", "is not a path inside the crate"),
        ("artifacts/link", "points outside the crate"),
    ],
)
def test_a_crate_file_outside_the_crate_is_never_read(
    crates: dict[str, Any], tmp_path: Path, where: str, said: str
) -> None:
    (tmp_path / "outside").write_text("secret")
    crate = edited(crates, tmp_path, _artifact_path(where))
    (crate / "artifacts" / "link").symlink_to(tmp_path / "outside")
    store = MemoryStore()
    with pytest.raises(CrateError, match=said):
        import_crate(store, crate)
    assert store.list_runs() == []


@pytest.mark.parametrize("member", ["ro-crate-metadata.json", "reprolam/trace.json"])
def test_a_zip_holding_a_file_twice_is_refused(
    crates: dict[str, Any], tmp_path: Path, member: str
) -> None:
    """Python's zipfile reads the last of two members of one name; which one another tool
    reads is up to it: the crate verified here could tell other readers something else."""
    crate = _zipped(crates["root"] / "plain", tmp_path / "twice.zip")
    with (
        pytest.warns(UserWarning, match="Duplicate name"),
        zipfile.ZipFile(crate, "a") as archive,
    ):
        archive.writestr(member, archive.read(member))
    store = MemoryStore()
    with pytest.raises(CrateError, match=f"holds '{member}' twice"):
        import_crate(store, crate)
    assert store.list_runs() == []


def _corrupt_deflate(archive: bytearray, info: zipfile.ZipInfo) -> None:
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    archive[start + 50] ^= 0xFF  # inside the deflate stream


def _encrypted(archive: bytearray, info: zipfile.ZipInfo) -> None:
    central = archive.rfind(b"PK\x01\x02", 0, archive.rfind(info.filename.encode()))
    archive[central + 8] |= 1  # the central directory's "encrypted" flag


def _unknown_method(archive: bytearray, info: zipfile.ZipInfo) -> None:
    central = archive.rfind(b"PK\x01\x02", 0, archive.rfind(info.filename.encode()))
    for at in (central + 10, info.header_offset + 8):
        archive[at : at + 2] = (99).to_bytes(2, "little")  # AES: Python cannot inflate it


@pytest.mark.parametrize("damage", [_corrupt_deflate, _encrypted, _unknown_method])
@pytest.mark.parametrize("member", ["reprolam/trace.json", "ro-crate-metadata.json"])
def test_a_zip_member_that_cannot_be_inflated_is_refused_in_one_line(
    crates: dict[str, Any], tmp_path: Path, member: str, damage: Callable[..., None]
) -> None:
    """zlib.error, RuntimeError (encrypted) and NotImplementedError were tracebacks."""
    crate = _zipped(crates["root"] / "plain", tmp_path / "damaged.zip")
    with zipfile.ZipFile(crate) as archive:
        info = archive.getinfo(member)
    data = bytearray(crate.read_bytes())
    damage(data, info)
    crate.write_bytes(bytes(data))
    store = MemoryStore()
    with pytest.raises(CrateError, match=f"its member '{member}' cannot be read"):
        import_crate(store, crate)
    assert store.list_runs() == []


def test_a_fifo_in_a_crate_directory_is_refused_not_waited_on(
    crates: dict[str, Any], tmp_path: Path
) -> None:
    crate = tmp_path / "crate"
    shutil.copytree(crates["root"] / "plain", crate)
    victim = _json_artifact(crate)
    victim.unlink()
    os.mkfifo(victim)
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            import_crate(MemoryStore(), crate)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout=30)
    if worker.is_alive():  # unblock the reader, then fail
        with open(victim, "wb"):
            pass
        pytest.fail("import waited on a FIFO in the crate")
    (error,) = outcome
    assert isinstance(error, CrateError)
    assert "is not a regular file" in str(error)


@pytest.mark.parametrize("role", ["code record", "source"])
def test_a_code_record_under_another_codec_is_refused(
    crates: dict[str, Any], tmp_path: Path, role: str
) -> None:
    """The seal covers the codecs of step artifacts, not of the code record and its sources
    (the environment snapshot names them by digest): a crate relabelling one imported, and
    which one the plain "artifact codec" edit picked varied with the digests' order."""
    crate = tmp_path / "crate"
    shutil.copytree(crates["root"] / "plain", crate)
    path = crate / "reprolam" / "trace.json"
    trace = json.loads(path.read_text())
    environment = _run(trace)["environment"]
    code = json.loads((crate / trace["artifacts"][environment]["path"]).read_text())["code"]
    target = code
    if role == "source":
        manifest = json.loads((crate / trace["artifacts"][code]["path"]).read_text())
        target = next(
            key for module in manifest["modules"].values() for key in module["sources"].values()
        )
    trace["artifacts"][target]["codec"] = "npy"
    path.write_text(json.dumps(trace))
    store = MemoryStore()
    with pytest.raises(IntegrityError, match="nothing was imported") as info:
        import_crate(store, crate)
    assert "recorded as 'npy'" in str(info.value)
    assert store.list_runs() == []


def test_a_crate_of_a_run_exported_while_running_is_refused(tmp_path: Path) -> None:
    """Exported midway, a run's record says "running": imported, it would say so forever
    in a store where nothing runs it. The import refuses it and names the fix."""
    import reprolam
    from reprolam import ActionContext, Policy, RulesPlanner, action, workflow
    from reprolam.errors import ConfigError

    store, crate = tmp_path / "store", tmp_path / "crate.zip"

    @action(outputs=["x"])
    def first() -> int:
        return 1

    @action(outputs=["y"])
    def export_self(x: int, ctx: ActionContext) -> int:
        with reprolam.open(store) as other:
            other.export(ctx.run_id, format="rocrate", output=crate)
        return x

    flow = workflow("midway", [first, export_self], outputs=["y"])
    with reprolam.open(store) as client:
        assert client.run(flow, planner=RulesPlanner(), policy=Policy(max_steps=5)).succeeded
    target = MemoryStore()
    with pytest.raises(ConfigError, match="exported while it was running") as info:
        import_crate(target, crate)
    assert "export it again once it has finished" in str(info.value)
    assert target.list_runs() == []


def _metadata_value(crate: Path) -> None:
    path = crate / "ro-crate-metadata.json"
    metadata = json.loads(path.read_text())
    root = next(e for e in metadata["@graph"] if e["@id"] == "./")
    root["name"] = "a better result"
    path.write_text(json.dumps(metadata))


def _workflow_view(crate: Path) -> None:
    path = crate / "workflow.json"
    path.write_text(path.read_text().replace('"report"', '"reported"'))


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (_metadata_value, "ro-crate-metadata.json entity './' differs"),
        (lambda crate: (crate / "ro-crate-metadata.json").unlink(), "ro-crate-metadata.json is"),
        (_workflow_view, "workflow.json is not what"),
    ],
)
def test_a_crate_whose_views_were_edited_is_refused(
    crates: dict[str, Any], tmp_path: Path, edit: Callable[[Path], Any], named: str
) -> None:
    """Its records verify, but it tells every other reader something else: refused, as an
    edited record is (the metadata, workflow.json and the open-format copies are written
    again from the verified records and compared)."""
    crate = tmp_path / "crate"
    shutil.copytree(crates["root"] / "plain", crate)
    import_crate(MemoryStore(), crate)  # as exported: imports
    edit(crate)
    store = MemoryStore()
    with pytest.raises(IntegrityError, match="altered after it was exported") as refused:
        import_crate(store, crate)
    assert named in str(refused.value)
    assert store.list_runs() == []


def test_a_crate_with_a_chosen_license_as_a_zip_imports(
    crates: dict[str, Any], tmp_path: Path
) -> None:
    from reprolam.provenance import export_run

    with SQLiteStore(tmp_path / "store") as store:
        import_crate(store, crates["root"] / "plain")
        export_run(
            store, crates["plain"], format="rocrate", output=tmp_path / "c.zip", license="MIT"
        )
    assert import_crate(MemoryStore(), tmp_path / "c.zip").run == crates["plain"]


def test_a_crate_an_older_exporter_described_otherwise_is_not_called_altered(
    tmp_path: Path,
) -> None:
    """Import compares a crate's views with what this version writes from its records. A
    run that executed no action was said to conform to Provenance Run Crate until 90ef5b7:
    a crate exported before then, untouched, was refused as 'altered after it was exported'
    and nothing said that another version had written it, nor to export it with this one."""
    from reprolam import Engine, Proposal
    from reprolam.provenance import export_run
    from reprolam.provenance._crate_terms import PROVENANCE_PROFILE
    from test_provenance_scenarios import FLOW, Scripted

    with SQLiteStore(tmp_path / "store") as store:
        planner = Scripted([Proposal("nope")], {"name": "script"})
        run_id = Engine(store).run(FLOW, planner=planner, seed=0).id
        export_run(store, run_id, format="rocrate", output=tmp_path / "crate")
    path = tmp_path / "crate" / "ro-crate-metadata.json"
    metadata = json.loads(path.read_text())
    root = next(e for e in metadata["@graph"] if e["@id"] == "./")
    root["conformsTo"].append({"@id": PROVENANCE_PROFILE})  # as the older exporter wrote it
    path.write_text(json.dumps(metadata, indent=4))
    with pytest.raises(IntegrityError, match="altered after it was exported") as refused:
        import_crate(MemoryStore(), tmp_path / "crate")
    message = str(refused.value)
    assert "or was exported by another version of reprolam" in message
    assert f"reprolam {reprolam.__version__} writes" in message
    assert message.endswith("export the run again with this version")
