"""``reprolam get`` with ``-o results/``, an unknown name, and bytes that are not text.

* ``-o results/`` (a directory that does not exist yet) wrote a *file* named ``results``,
  and the next ``get`` into ``results/`` silently replaced it with another artifact; a path
  ending in a separator now names a directory, created, that takes ``NAME.EXT``.
* An unknown name listed the run's outputs but not its inputs, which ``get`` also takes.
* Binary bytes were offered (and written) as ``txt`` with undecodable bytes replaced: a
  file holding something else than the artifact. ``txt`` is offered for UTF-8 bytes only.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import reprolam
from reprolam import action, workflow
from reprolam.cli.main import cli


@action(outputs=["metrics", "blob", "note"])
def measure(raw: Path) -> tuple[dict[str, float], bytes, bytes]:
    return {"rows": float(len(raw.read_text().splitlines()))}, b"\xff\xfe\x00binary", b"caf\xc3\xa9"


FLOW = workflow("get-paths", [measure], outputs=["metrics", "blob"], inputs=["raw"])


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "raw.csv").write_text("a\n1\n")
    store = str(tmp_path / "store")
    with reprolam.open(store) as rl:
        return store, rl.run(FLOW, inputs={"raw": tmp_path / "raw.csv"}).id


def _get(store: str, *args: str) -> object:
    return CliRunner().invoke(cli, ["--store", store, "get", *args])


def test_a_path_ending_in_a_separator_is_a_directory(
    recorded: tuple[str, str], tmp_path: Path
) -> None:
    store, run_id = recorded
    results = tmp_path / "results"
    for name in ("metrics", "blob", "raw"):
        done = _get(store, run_id, name, "-o", f"{results}/")
        assert done.exit_code == 0, done.output
    assert sorted(p.name for p in results.iterdir()) == ["blob.bin", "metrics.json", "raw.csv"]
    assert (results / "raw.csv").read_text() == "a\n1\n"
    assert (results / "blob.bin").read_bytes() == b"\xff\xfe\x00binary"


def test_a_separator_after_an_existing_file_is_one_error_line(
    recorded: tuple[str, str], tmp_path: Path
) -> None:
    store, run_id = recorded
    (tmp_path / "taken").write_text("mine")
    done = _get(store, run_id, "metrics", "-o", f"{tmp_path / 'taken'}/")
    assert done.exit_code == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: cannot write ")
    assert "--out" in line
    assert (tmp_path / "taken").read_text() == "mine"


def test_an_unknown_name_lists_the_inputs_too(recorded: tuple[str, str]) -> None:
    store, run_id = recorded
    done = _get(store, run_id, "nope")
    assert done.exit_code == 2
    (line,) = done.stderr.splitlines()
    assert "has no artifact 'nope'" in line
    assert "raw" in line.partition("it has:")[2].split(", ")


def test_binary_bytes_are_not_offered_as_text(recorded: tuple[str, str], tmp_path: Path) -> None:
    store, run_id = recorded
    done = _get(store, run_id, "blob", "--as", "txt", "-o", str(tmp_path / "b.txt"))
    assert done.exit_code == 2
    assert "get it as native, json" in done.stderr
    assert "txt" not in done.stderr.partition("get it as")[2]
    assert not (tmp_path / "b.txt").exists()
    with reprolam.open(store) as rl:
        got = rl.get(run_id, "0.note", out=tmp_path / "note.txt")
    assert got.format == "txt"
    assert (tmp_path / "note.txt").read_bytes() == b"caf\xc3\xa9"


def test_an_output_whose_name_holds_a_dot_is_got_as_listed(tmp_path: Path) -> None:
    """rlam's action_id 'step.1' names its step's output: `get RUN 0.step.1` (as the
    'it has:' list spells it) was refused as step '0.step' output '1'."""
    from reprolam.compat.rlam import Action, ExecutionTrace, execute_action

    store = str(tmp_path / "store")
    with reprolam.open(store) as client:  # closed: its journal applied for the CLI to read
        trace = ExecutionTrace(store=client)
        made = Action(
            action_id="step.1", action_type="load", inputs={}, parameters={}, environment_hash="e"
        )
        trace.add_result(execute_action(made, lambda: [1, 2]))
    for name in ("step.1", "0.step.1", "load.step.1"):
        got = CliRunner().invoke(
            cli, ["--store", store, "get", trace.run_id or "", name, "-o", "-"]
        )
        assert got.exit_code == 0, got.output
        assert got.stdout.split() == ["[", "1,", "2", "]"]


@action(outputs=["plot", "report"])
def draw(*, ctx: reprolam.ActionContext) -> tuple[Path, Path]:
    (ctx.workdir / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff binary")
    (ctx.workdir / "report.md").write_text("# caf\u00e9\n")
    return ctx.workdir / "plot.png", ctx.workdir / "report.md"


def test_a_file_output_is_got_as_png_or_txt_when_its_content_is(tmp_path: Path) -> None:
    """A PNG file an action wrote was refused --as png ('not PNG bytes: get it as native,
    txt'), and written --as txt though its bytes are not text."""
    store = str(tmp_path / "store")
    with reprolam.open(store) as rl:
        run_id = rl.run(workflow("files-as", [draw], outputs=["plot"])).id
    png = _get(store, run_id, "plot", "--as", "png", "-o", str(tmp_path / "p.png"))
    assert png.exit_code == 0, png.output
    assert (tmp_path / "p.png").read_bytes().startswith(b"\x89PNG")
    as_text = _get(store, run_id, "plot", "--as", "txt", "-o", str(tmp_path / "p.txt"))
    assert as_text.exit_code == 2
    assert "not text: get it as native, png" in " ".join(as_text.stderr.split())
    assert not (tmp_path / "p.txt").exists()
    text = _get(store, run_id, "report", "--as", "txt", "-o", str(tmp_path / "r.txt"))
    assert text.exit_code == 0, text.output
    assert (tmp_path / "r.txt").read_text() == "# caf\u00e9\n"
    not_png = _get(store, run_id, "report", "--as", "png", "-o", str(tmp_path / "r.png"))
    assert not_png.exit_code == 2
    assert "not PNG bytes: get it as native, txt" in " ".join(not_png.stderr.split())
    assert not (tmp_path / "r.png").exists()


@action(outputs=["results"])
def fill(*, ctx: reprolam.ActionContext) -> Path:
    (ctx.workdir / "a.csv").write_text("a\n1\n")
    return ctx.workdir


def test_a_directory_got_under_an_archive_name_says_it_is_a_directory(tmp_path: Path) -> None:
    """-o results.zip wrote a directory named results.zip, silently: unzip could not open it."""
    store = str(tmp_path / "store")
    with reprolam.open(store) as rl:
        run_id = rl.run(workflow("dir-as-zip", [fill], outputs=["results"])).id
        with pytest.warns(reprolam.ReprolamWarning, match=r"written as a directory, not a \.zip"):
            rl.get(run_id, "results", out=tmp_path / "results.zip")
    assert (tmp_path / "results.zip" / "a.csv").read_text() == "a\n1\n"
    done = _get(store, run_id, "results", "-o", str(tmp_path / "plain"))
    assert done.exit_code == 0, done.output
    assert "warning" not in done.stderr


@action(outputs=["image", "log"])
def buffers() -> tuple[bytearray, bytearray]:
    return bytearray(b"\x89PNG\r\n\x1a\n\x00\xff"), bytearray(b"caf\xc3\xa9\n")


def test_a_bytearray_is_got_as_png_or_txt_as_bytes_are(tmp_path: Path) -> None:
    """A bytearray was JSON only (a hex string) or reprolam's encoding (native): a PNG or a
    text built in a bytearray could not be got as the bytes it holds."""
    store = str(tmp_path / "store")
    with reprolam.open(store) as rl:
        run_id = rl.run(workflow("buffers", [buffers], outputs=["image", "log"])).id
        png = rl.get(run_id, "image", out=tmp_path / "i.png")
        text = rl.get(run_id, "log", out=tmp_path / "l.txt")
    assert (png.format, text.format) == ("png", "txt")
    assert (tmp_path / "i.png").read_bytes() == b"\x89PNG\r\n\x1a\n\x00\xff"
    assert (tmp_path / "l.txt").read_bytes() == b"caf\xc3\xa9\n"
