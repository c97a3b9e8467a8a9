"""The UI shows what a scientist's actions really return: PNG bytes and PNG files as images,
text files as text, directories as listings, sparse matrices by their statistics.

PNG ``bytes`` an action returned were previewed as an image whose URL answered 404 (the
endpoint looked for the PNG signature before the bytes codec's magic), and files written to
``ctx.workdir`` showed only their manifest's one-line description.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the ui extra is not installed: pip install 'reprolam[ui]'")
import scipy.sparse as sp
from starlette.testclient import TestClient

from reprolam import ActionContext, action, workflow
from reprolam.engine.engine import Engine
from reprolam.planning.rules import ScriptPlanner
from reprolam.trace import SQLiteStore
from reprolam.ui import create_app


def _png(width: int = 3, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + bytes([40, 80, 120] * width) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@action(outputs=["figure_bytes", "figure_file", "notes", "folder", "blob", "matrix"])
def outputs(*, ctx: ActionContext) -> tuple[Any, ...]:
    figure = ctx.workdir / "figure.png"
    figure.write_bytes(_png())
    notes = ctx.workdir / "notes.md"
    notes.write_text("# Findings\n\n<b>bold</b> claim\n")
    folder = ctx.workdir / "plots"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.csv").write_text("x\n1\n")
    blob = ctx.workdir / "blob.bin"
    blob.write_bytes(b"\x00\x01\x02binary")
    matrix = sp.csr_matrix(([1.0, 2.0, 4.0], ([0, 1, 2], [0, 2, 1])), shape=(3, 4))
    return _png(), figure, notes, folder, blob, matrix


flow = workflow("ui-outputs", [outputs], outputs=["figure_bytes"])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Any]]:
    store = SQLiteStore(tmp_path_factory.mktemp("ui-outputs") / "store")
    result = Engine(store).run(flow, planner=ScriptPlanner(["outputs"]))
    with TestClient(
        create_app(store, index_in_background=False), base_url="http://localhost"
    ) as client:
        yield client, result
    store.close()


def _previews(client: TestClient, run_id: str) -> dict[str, dict[str, Any]]:
    step = client.get(f"/api/runs/{run_id}/steps/0")
    assert step.status_code == 200, step.text[:300]
    return {o["name"]: {**o["preview"], "digest": o["digest"]} for o in step.json()["outputs"]}


@pytest.mark.parametrize("name", ["figure_bytes", "figure_file"])
def test_png_outputs_are_images_that_load(world: tuple[TestClient, Any], name: str) -> None:
    client, result = world
    shown = _previews(client, result.run.id)[name]
    assert shown["kind"] == "image"
    image = client.get(f"/artifacts/{shown['digest']}/image.png")
    assert image.status_code == 200, image.text[:300]
    assert image.headers["content-type"] == "image/png"
    assert image.content == _png()
    page = client.get(f"/runs/{result.run.id}/steps/0").text
    assert f"/artifacts/{shown['digest']}/image.png" in page


def test_files_show_their_content_and_directories_their_listing(
    world: tuple[TestClient, Any],
) -> None:
    client, result = world
    shown = _previews(client, result.run.id)
    assert shown["notes"]["kind"] == "text"
    assert shown["notes"]["text"].startswith("# Findings")
    assert shown["folder"]["kind"] == "text"
    assert "sub/a.csv  (4 bytes)" in shown["folder"]["text"]
    assert shown["blob"]["kind"] == "binary"  # a hex dump of its first bytes: test_qa3_ui
    assert "binary content" in shown["blob"]["summary"]
    page = client.get(f"/runs/{result.run.id}/steps/0").text
    assert "&lt;b&gt;bold&lt;/b&gt; claim" in page  # a file's text is escaped, never live
    for name in ("notes", "blob", "folder"):  # not images: their image URL is refused
        digest = shown[name]["digest"]
        assert client.get(f"/artifacts/{digest}/image.png").status_code == 404


def test_a_sparse_matrix_is_described_by_its_statistics(world: tuple[TestClient, Any]) -> None:
    client, result = world
    shown = _previews(client, result.run.id)["matrix"]
    assert shown["kind"] == "array"
    assert shown["summary"] == "csr_matrix 3x4"
    stats = shown["stats"]
    assert (stats["format"], stats["shape"], stats["stored"]) == ("csr", [3, 4], 3)
    assert stats["density"] == 0.25
    assert stats["max (stored)"] == 4.0
    assert json.dumps(stats)  # plain data for the JSON twin


@action(outputs=["sparse", "small"])
def tiny_numbers() -> tuple[Any, Any]:
    import numpy as np

    sparse = sp.csr_matrix(([1.0, 2.0], ([0, 1], [0, 1])), shape=(10_000, 10_000))
    return sparse, np.array([1e-09, 3e-09])


tiny_flow = workflow("ui-tiny-numbers", [tiny_numbers], outputs=["small"])


def test_small_statistics_are_not_shown_as_zero(tmp_path: Any) -> None:
    """Statistics were rounded to six decimals: a sparse matrix with 2 values stored of 10^8
    cells showed density 0.0 (an empty matrix), and an array of values near 1e-09 showed min,
    max and mean 0.0. Below 1 they keep six significant digits."""
    store = SQLiteStore(tmp_path / "store")
    result = Engine(store).run(tiny_flow, planner=ScriptPlanner(["tiny_numbers"]))
    with TestClient(
        create_app(store, index_in_background=False), base_url="http://localhost"
    ) as client:
        shown = _previews(client, result.run.id)
    store.close()
    assert shown["sparse"]["stats"]["density"] == 2e-08
    small = shown["small"]["stats"]
    assert (small["min"], small["max"], small["mean"]) == (1e-09, 3e-09, 2e-09)
