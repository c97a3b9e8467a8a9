"""Independent verification: a crate another lab can open without reprolam, import into an
empty store in a fresh process, audit and reproduce; a crate that does not verify is refused.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import reprolam
from reprolam.cli.main import cli
from reprolam.errors import IntegrityError
from reprolam.history.fork import fork
from reprolam.provenance import CrateError, export_run, import_crate
from reprolam.trace.memory import MemoryStore
from reprolam.trace.sqlite import SQLiteStore

pytest.importorskip("rocrate", reason="pip install 'reprolam[provenance]'")


@reprolam.action(outputs=["arrays"])
def arrays() -> dict[str, Any]:
    import numpy as np

    long = "k" * 70  # safe names are cut at 64 characters: these two shared one
    return {"a/b": np.zeros(2), "a_b": np.ones(3), long: np.arange(4), long + "z": np.arange(5)}


ARRAYS_FLOW = reprolam.workflow("open-names", [arrays], outputs=["arrays"])


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A breast-cancer run and a fork of it, each exported as a crate (a directory, a zip)."""
    root = tmp_path_factory.mktemp("crates")
    with SQLiteStore(root / "store") as store:
        plain = reprolam.run("breast-cancer", store=store, seed=0, planner="rules").id
        forked = fork(store, plain, at="train_model", overrides={"train_model": {"C": 0.5}}).id
        export_run(store, plain, format="rocrate", output=root / "plain")
        export_run(store, forked, format="rocrate", output=root / "fork.zip")
        yield {
            "root": root,
            "plain": plain,
            "fork": forked,
            "steps": {r: store.steps(r) for r in (plain, forked)},
        }


def reprolam_cli(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a fresh process, as another lab would run it."""
    env = {**os.environ, "REPROLAM_STORE": str(store)}
    return subprocess.run(
        [sys.executable, "-m", "reprolam", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize(("crate", "run"), [("plain", "plain"), ("fork.zip", "fork")])
def test_import_into_an_empty_store_then_audit_is_clean_and_reproduce_identical(
    exported: dict[str, Any], tmp_path: Path, crate: str, run: str
) -> None:
    store = tmp_path / "lab"
    run_id = exported[run]
    imported = reprolam_cli(store, "import", str(exported["root"] / crate), "--json")
    assert imported.returncode == 0, imported.stderr
    report = json.loads(imported.stdout)
    assert report["run"] == run_id
    if run == "fork":  # the crate carries the parent whose steps the fork inherits
        assert report["runs"] == [exported["plain"], run_id]
    with SQLiteStore(store) as trace:
        assert trace.steps(run_id) == exported["steps"][run_id]  # every field, hash chain too
    audit = reprolam_cli(store, "audit", run_id[:13], "--json")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    replay = reprolam_cli(store, "replay", run_id)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    reproduced = reprolam_cli(store, "reproduce", run_id, "--json")
    assert reproduced.returncode == 0, reproduced.stdout + reproduced.stderr
    result = json.loads(reproduced.stdout)
    assert result["bitwise"] is True
    assert result["identical"] == result["compared"] == len(exported["steps"][run_id])
    again = reprolam_cli(store, "store", "import", str(exported["root"] / crate))
    assert again.returncode == 0, again.stderr
    assert "already there" in again.stdout


def test_a_flipped_byte_is_refused_naming_the_file_and_nothing_is_written(
    exported: dict[str, Any], tmp_path: Path
) -> None:
    crate = tmp_path / "crate"
    shutil.copytree(exported["root"] / "plain", crate)
    victim = sorted((crate / "artifacts").glob("*.model"))[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    store = tmp_path / "lab"
    result = CliRunner().invoke(cli, ["--store", str(store), "import", str(crate)])
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert f"artifacts/{victim.name} in crate" in line
    assert "does not verify" in line
    assert "nothing was imported" in line
    with SQLiteStore(store) as trace:
        assert trace.list_runs() == []


def test_an_edited_step_record_is_refused(exported: dict[str, Any], tmp_path: Path) -> None:
    crate = tmp_path / "crate.zip"
    with (
        zipfile.ZipFile(exported["root"] / "fork.zip") as source,
        zipfile.ZipFile(crate, "w") as target,
    ):
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "reprolam/trace.json":
                trace = json.loads(data)
                trace["steps"][exported["fork"]][0]["params"]["C"] = 0.25  # a better result?
                data = json.dumps(trace).encode()
            target.writestr(item, data)
    store = MemoryStore()
    with pytest.raises(IntegrityError, match=r"reprolam/trace\.json") as info:
        import_crate(store, crate)
    assert f"step 3 of run {exported['fork']}" in str(info.value)
    assert store.list_runs() == []


def test_what_is_not_a_crate_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.zip").write_text("not a zip")
    with pytest.raises(CrateError, match=r"no reprolam/trace\.json"):
        import_crate(MemoryStore(), tmp_path / "empty")
    with pytest.raises(CrateError, match="neither a crate directory nor a zip"):
        import_crate(MemoryStore(), tmp_path / "notes.zip")
    result = CliRunner().invoke(
        cli, ["--store", str(tmp_path / "s"), "import", str(tmp_path / "missing")]
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("error: no crate at")
    assert not (tmp_path / "s").exists()  # a mistyped crate creates no store
    # nor does one that is refused (it left an empty store: trace.db and artifacts/)
    for refused in ("empty", "notes.zip"):
        result = CliRunner().invoke(
            cli, ["--store", str(tmp_path / "s"), "import", str(tmp_path / refused)]
        )
        assert result.exit_code == 2, result.output
        assert not (tmp_path / "s").exists()
        with pytest.raises(CrateError):
            reprolam.import_crate(tmp_path / refused, store=tmp_path / "s")
        assert not (tmp_path / "s").exists()


def test_an_empty_crate_path_is_refused_as_no_crate_given(tmp_path: Path) -> None:
    """`reprolam import ''` said "'.' is not an importable reprolam crate": the empty path
    was read as the working directory."""
    for command in (["import", ""], ["store", "import", ""]):
        result = CliRunner().invoke(cli, ["--store", str(tmp_path / "s"), *command])
        assert result.exit_code == 2, result.output
        assert result.stderr == (
            "error: no crate given (an empty path): give a crate directory or .zip file\n"
        )
    with pytest.raises(reprolam.ConfigError, match="no crate given"):
        import_crate(MemoryStore(), "")
    assert not (tmp_path / "s").exists()


def test_a_zip_of_the_crate_directory_imports(exported: dict[str, Any], tmp_path: Path) -> None:
    """``zip -r crate.zip plain/`` of an exported directory (the crate one level down) was
    refused as a crate "exported by reprolam before import existed"."""
    source = exported["root"] / "plain"
    archive = tmp_path / "by-hand.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(source.rglob("*")):
            zipped.write(path, f"plain/{path.relative_to(source)}")
    with MemoryStore() as store:
        report = import_crate(store, archive)
        assert report.run == exported["plain"]
        assert store.steps(exported["plain"]) == exported["steps"][exported["plain"]]


# -- open formats, read without reprolam --------------------------------------------------------

NO_REPROLAM = """
import sys

class NoReprolam:
    def find_spec(self, name, path=None, target=None):
        if name == "reprolam" or name.startswith("reprolam."):
            raise ImportError("this check must not import reprolam")
        return None

sys.meta_path.insert(0, NoReprolam())
"""

READ_CRATE = """
import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

crate = Path(sys.argv[1])
graph = json.loads((crate / "ro-crate-metadata.json").read_text())["@graph"]
files = {e["name"]: crate / e["@id"] for e in graph if "name" in e and "@type" in e
         and e["@type"] == "File" and (crate / e["@id"]).is_file()}
X = pd.read_csv(files["X.csv"], index_col=0)
X_processed = pd.read_csv(files["X_processed.csv"], index_col=0)
y = np.load(files["y"], allow_pickle=False) if "y" in files else None
arrays = np.load(files["model.npz"], allow_pickle=False)
about = json.loads(files["model.json"].read_text())
split = json.loads(files["split"].read_text())
metrics = json.loads(files["metrics"].read_text())
assert about["class"] == "sklearn.linear_model._logistic.LogisticRegression", about["class"]
model = LogisticRegression(**about["params"])
for name in arrays.files:
    setattr(model, name, arrays[name])
model.n_features_in_ = about["fitted"]["n_features_in_"]
test = split["test"]
accuracy = float((model.predict(X_processed.to_numpy()[test]) == y[test]).mean())
print(json.dumps({"shape": list(X.shape), "accuracy": accuracy, "recorded": metrics["accuracy"],
                  "reprolam_loaded": "reprolam" in sys.modules}))
"""


def test_the_input_table_and_model_open_with_pandas_and_numpy_alone(
    exported: dict[str, Any], tmp_path: Path
) -> None:
    script = tmp_path / "read_crate.py"
    script.write_text(NO_REPROLAM + textwrap.dedent(READ_CRATE))
    result = subprocess.run(
        [sys.executable, str(script), str(exported["root"] / "plain")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["reprolam_loaded"] is False
    assert seen["shape"] == [569, 30]  # the breast-cancer table, as CSV
    assert seen["accuracy"] == pytest.approx(seen["recorded"])  # the model, rebuilt from .npz


def test_the_guard_really_blocks_reprolam(tmp_path: Path) -> None:
    script = tmp_path / "guard.py"
    script.write_text(NO_REPROLAM + "\nimport reprolam\n")
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert "must not import reprolam" in result.stderr


def test_members_whose_safe_names_collide_each_get_their_own_open_file(tmp_path: Path) -> None:
    """Keys ``a/b`` and ``a_b`` (or two long keys with the same first 64 characters) were
    written to one file name in ``artifacts/open``: one member's open copy silently replaced
    the other's. Each now has a file of its own, and the crate still imports."""
    import numpy as np

    with reprolam.open("memory:") as rl:
        run = rl.run(ARRAYS_FLOW, planner="script")
        rl.export(run.id, format="rocrate", output=tmp_path / "crate")
    opened = sorted((tmp_path / "crate" / "artifacts" / "open").iterdir())
    sizes = sorted(int(np.load(path).size) for path in opened)
    assert sizes == [2, 3, 4, 5]
    with MemoryStore() as store:
        assert import_crate(store, tmp_path / "crate").run == run.id


def test_import_without_rocrate_says_how_to_install(
    exported: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Import writes the crate's views again with rocrate to compare them; without it
    installed, `reprolam import` was an ImportError traceback (exit 1)."""
    monkeypatch.setitem(sys.modules, "rocrate", None)
    monkeypatch.delitem(sys.modules, "reprolam.provenance._rocrate", raising=False)
    store = tmp_path / "store"
    result = CliRunner().invoke(
        cli, ["--store", str(store), "import", str(exported["root"] / "plain")]
    )
    assert result.exit_code == 2, result.output
    assert "the import of a crate needs the 'rocrate' package" in result.output
    assert "pip install 'reprolam[provenance]'" in result.output
    assert not store.exists()


@reprolam.action(outputs=["blob"])
def blob() -> bytes:
    return os.urandom(24 << 20)


@pytest.mark.slow
def test_a_zipped_crate_of_a_large_artifact_is_its_directory_zipped(tmp_path: Path) -> None:
    """rocrate's write_zip copied what was left of its buffer on every 8 KiB it read: a 32 MB
    artifact took 15 s to zip and a 200 MB one hours. The zip is now the crate's directory
    zipped (same members, fixed timestamps), and imports as the directory does; how long it
    takes is for a benchmark to say, not a test."""
    flow = reprolam.workflow("large", [blob], outputs=["blob"])
    with SQLiteStore(tmp_path / "store") as store:
        run_id = reprolam.run(flow, store=store, planner="script").id
        export_run(store, run_id, format="rocrate", output=tmp_path / "crate")
        export_run(store, run_id, format="rocrate", output=tmp_path / "crate.zip")
    with zipfile.ZipFile(tmp_path / "crate.zip") as archive:
        names = sorted(archive.namelist())
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    in_directory = sorted(
        p.relative_to(tmp_path / "crate").as_posix()
        for p in (tmp_path / "crate").rglob("*")
        if p.is_file()
    )
    assert names == in_directory
    store = MemoryStore()
    import_crate(store, tmp_path / "crate.zip")
    assert store.get_run(run_id).outputs.keys() == {"blob"}


def test_import_json_names_the_crate_as_the_copy_source(
    exported: dict[str, Any], tmp_path: Path
) -> None:
    """import --json's copy report said its source was 'memory:' (the staging store the
    crate is verified in), a store nobody named."""
    crate = str(exported["root"] / "fork.zip")
    result = CliRunner().invoke(cli, ["--store", str(tmp_path / "lab"), "import", crate, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["copy"]["source"] == crate
