"""The web UI: a favicon, a sweep compared by its id, a run's input data.

* Every browser tab asked for ``/favicon.ico`` and got a 404 (logged by uvicorn each time);
  pages now link ``/static/favicon.svg`` and ``/favicon.ico`` redirects there.
* ``/compare`` and ``/api/compare`` take a sweep id as ``run=``, as ``reprolam compare`` does.
* A run's page did not say which data it was given (``--input``): it lists each input with
  its digest (a link to its preview), its path, and whether only its digest was recorded.
* Binary bytes an action returned were previewed as a JSON string of their one-line summary
  (shown twice); binary files as "binary content" only. Both are now a hex dump of their
  first bytes (UTF-8 bytes: as text).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the ui extra is not installed: pip install 'reprolam[ui]'")
from starlette.testclient import TestClient

import reprolam
from reprolam import action, workflow
from reprolam.ui import create_app


@action(outputs=["metrics"])
def score(*, alpha: float = 1.0) -> dict[str, float]:
    return {"mse": alpha * 2.0}


FLOW = workflow("ui-sweep", [score], outputs=["metrics"])


@pytest.fixture
def client_and_sweep(tmp_path: Path) -> Iterator[tuple[TestClient, str, list[str]]]:
    with reprolam.open(tmp_path / "store") as rl:
        parent = rl.run(FLOW).id
        result = rl.sweep(parent, at="score", grid={"score.alpha": [0.5, 2.0]})
        ids = [p.run.id for p in result.points if p.run is not None]
        with TestClient(
            create_app(rl.store, index_in_background=False), base_url="http://localhost"
        ) as client:
            yield client, result.id, ids


def test_the_favicon_is_served_and_linked(
    client_and_sweep: tuple[TestClient, str, list[str]],
) -> None:
    client, _, _ = client_and_sweep
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.url.path == "/static/favicon.svg"
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.text.startswith("<svg")
    assert '<link rel="icon" href="/static/favicon.svg"' in client.get("/").text


def test_a_sweep_id_compares_its_points(
    client_and_sweep: tuple[TestClient, str, list[str]],
) -> None:
    client, sweep_id, ids = client_and_sweep
    api = client.get("/api/compare", params={"run": sweep_id})
    assert api.status_code == 200, api.text
    assert [row["run"] for row in api.json()["rows"]] == ids
    page = client.get("/compare", params={"run": sweep_id})
    assert page.status_code == 200
    for run_id in ids:
        assert run_id[:13] in page.text
    missing = client.get("/api/compare", params={"run": "ffff"})
    assert missing.status_code == 404
    assert "no run or sweep" in missing.json()["error"]


@action(outputs=["rows"])
def count(raw: Path, notes: Path, weights: object) -> int:
    return len(raw.read_text().splitlines())


COUNTING = workflow("ui-inputs", [count], outputs=["rows"], inputs=["raw", "notes", "weights"])


def test_a_runs_page_lists_its_inputs(tmp_path: Path) -> None:
    (tmp_path / "raw.csv").write_text("a\n1\n")
    (tmp_path / "notes<b>.txt").write_text("n")
    inputs = {
        "raw": tmp_path / "raw.csv",
        "notes": reprolam.InputData(tmp_path / "notes<b>.txt", copy=False),
        "weights": [1.0, 2.0],
    }
    with reprolam.open(tmp_path / "store") as rl:
        run = rl.run(COUNTING, inputs=inputs)
        with TestClient(
            create_app(rl.store, index_in_background=False), base_url="http://localhost"
        ) as client:
            html = client.get(f"/runs/{run.id}").text
            raw_digest = rl.show(run.id).steps[0].inputs["raw"]
            preview = client.get(f"/artifacts/{raw_digest}")
    section = html.partition('id="inputs"')[2].partition("</table>")[0]
    assert f'href="/artifacts/{raw_digest}"' in section
    assert f"<code>{tmp_path / 'raw.csv'}</code>" in section
    assert 'notes&lt;b&gt;.txt</code> <span class="dim">(not copied: digest only)' in section
    assert "<th>weights</th>" in section
    assert "a value" in section
    assert preview.status_code == 200
    assert "raw.csv" in preview.text


def test_binary_bytes_and_files_are_hex_dumps() -> None:
    from reprolam.ui.previews import value_preview

    dump = value_preview(b"\x00\x01PDF" + bytes(range(20)))
    assert (dump.kind, dump.summary) == ("binary", "bytes, 25 bytes")
    assert dump.text.splitlines()[0] == (
        "00000000  00 01 50 44 46 00 01 02 03 04 05 06 07 08 09 0a  ..PDF..........."
    )
    assert not dump.truncated
    assert value_preview(bytes(600)).truncated
    text = value_preview("café".encode())
    assert (text.kind, text.text) == ("text", "café")


@action(outputs=["blob"])
def write_blob(*, ctx: reprolam.ActionContext) -> Path:
    path = ctx.workdir / "data.bin"
    path.write_bytes(b"\xff\xfe\x00\x01binary")
    return path


BLOBS = workflow("ui-blob", [write_blob], outputs=["blob"])


def test_a_binary_file_is_a_hex_dump(tmp_path: Path) -> None:
    with reprolam.open(tmp_path / "store") as rl:
        run = rl.run(BLOBS)
        digest = rl.show(run.id).steps[0].outputs["blob"]
        with TestClient(
            create_app(rl.store, index_in_background=False), base_url="http://localhost"
        ) as client:
            page = client.get(f"/artifacts/{digest}").text
    assert "file data.bin (10 bytes): binary content" in page
    assert "ff fe 00 01 62 69 6e 61 72 79" in page
