"""The web UI through an in-process ASGI client: every page and JSON endpoint, on SQLite and
PostgreSQL stores, including the hostile run (markup must come back escaped, never live)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

pytest.importorskip("starlette", reason="the ui extra is not installed: pip install 'reprolam[ui]'")
from starlette.testclient import TestClient

import pg
import ui_data
from reprolam import action, workflow
from reprolam.trace import SQLiteStore, TraceStore
from reprolam.trace.postgres import PostgresStore
from reprolam.ui import create_app


@action(outputs=["metrics"])
def label(*, text: str = "short") -> dict[str, float]:
    return {"length": float(len(text))}


LABEL_FLOW = workflow("ui-label", [label], outputs=["metrics"])


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, ui_data.UiData, TraceStore]]:
    root = tmp_path_factory.mktemp(f"ui-{request.param}")
    store: TraceStore
    if request.param == "sqlite":
        store = SQLiteStore(root / "store")
    else:
        server = request.getfixturevalue("postgres")
        store = PostgresStore(server.create_database(), artifacts_dir=root / "artifacts")
    data = ui_data.build(store)
    with TestClient(
        create_app(store, index_in_background=False), base_url="http://localhost"
    ) as client:
        yield client, data, store
    store.close()


def _ok(client: TestClient, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.text[:500])
    assert "script-src 'self'" in response.headers["content-security-policy"]
    return response.text


def test_runs_page_lists_filters_and_pages(
    world: tuple[TestClient, ui_data.UiData, TraceStore],
) -> None:
    client, data, _ = world
    html = _ok(client, "/")
    for run_id in data.sweep:
        assert run_id[:18] in html
    assert "accuracy" in html  # headline metrics as columns, not hard-coded
    tagged = _ok(client, "/?tag=baseline")
    assert data.sweep[0][:18] in tagged
    assert data.sweep[1][:18] not in tagged
    assert "1 matching" in tagged
    forks = _ok(client, "/?relation=fork")
    assert data.fork[:18] in forks
    assert "1 matching" in forks
    page = _ok(client, "/?limit=2")
    assert 'id="next-page"' in page
    second = _ok(client, "/?limit=2&offset=2")
    assert 'id="prev-page"' in second
    by_metric = client.get("/api/runs", params={"metric": "accuracy", "order": "metric"}).json()
    values = [r["metrics"]["accuracy"] for r in by_metric["runs"]]
    assert values == sorted(values, reverse=True)
    assert len(values) == 4


def test_bad_filters_answer_400_in_one_line(
    world: tuple[TestClient, ui_data.UiData, TraceStore],
) -> None:
    client, _, _ = world
    response = client.get("/?status=done")
    assert response.status_code == 400
    assert "unknown status &#39;done&#39;" in response.text
    assert client.get("/?since=yesterday").status_code == 400
    api = client.get("/api/runs?seed=x")
    assert api.status_code == 400
    assert "whole number" in api.json()["error"]


def test_run_page(world: tuple[TestClient, ui_data.UiData, TraceStore]) -> None:
    client, data, _store = world
    run_id = data.sweep[0]
    html = _ok(client, f"/runs/{run_id[:13]}")
    assert 'class="reprolam-trace"' in html  # the exporter's SVG, inline
    assert html.count('class="step ') >= 5
    assert f"reprolam reproduce {run_id}" in html
    assert "baseline" in html  # tag
    assert 'id="forks"' in html
    assert data.fork[:18] in html
    live = client.get(f"/api/runs/{run_id}/live").json()
    assert live == {"run": run_id, "status": "succeeded", "steps": 5}
    shown = client.get(f"/api/runs/{run_id}").json()
    assert len(shown["steps"]) == 5
    assert shown["metrics"]["accuracy"] > 0.9
    fork_html = _ok(client, f"/runs/{data.fork}")
    assert "(3 inherited)" in fork_html
    assert "diff with parent" in fork_html


def test_step_page_shows_params_hashes_and_previews(
    world: tuple[TestClient, ui_data.UiData, TraceStore],
) -> None:
    client, data, store = world
    run_id = data.sweep[0]
    steps = store.steps(run_id)
    train = next(s for s in steps if s.action == "train_model")
    html = _ok(client, f"/runs/{run_id}/steps/{train.index}")
    assert "&#34;C&#34;: 0.01" in html
    assert train.hash is not None
    assert train.hash in html
    assert train.prev_hash in html
    assert "LogisticRegression" in html  # the model preview: type and params
    load = _ok(client, f"/runs/{run_id}/steps/0")
    assert "569 rows × 30 columns" in load  # a frame's first rows
    assert "dtype" in load
    assert "shape" in load
    payload = client.get(f"/api/runs/{run_id}/steps/{train.index}").json()
    assert payload["step"]["params"]["C"] == 0.01
    assert payload["outputs"][0]["preview"]["kind"] == "model"
    assert client.get(f"/runs/{run_id}/steps/99").status_code == 404
    huge = 10**20  # past what a database integer holds: no such step, not a server error
    assert client.get(f"/runs/{run_id}/steps/{huge}").status_code == 404
    assert client.get(f"/api/runs/{run_id}/steps/{huge}").status_code == 404
    assert client.get(f"/runs/{run_id}?steps={huge}").status_code == 200


def test_artifact_pages_and_the_image(world: tuple[TestClient, ui_data.UiData, TraceStore]) -> None:
    client, data, store = world
    html = _ok(client, f"/artifacts/{data.image}")
    assert f"/artifacts/{data.image}/image.png" in html
    image = client.get(f"/artifacts/{data.image}/image.png")
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")
    metrics_digest = store.get_run(data.sweep[0]).outputs["metrics"]
    assert "&#34;accuracy&#34;" in _ok(client, f"/artifacts/{metrics_digest}")
    assert client.get(f"/artifacts/{metrics_digest}/image.png").status_code == 404  # not a PNG
    assert client.get(f"/api/artifacts/{metrics_digest}").json()["codec"] == "json"
    assert client.get("/artifacts/" + "0" * 64).status_code == 404


def test_compare_diff_forks_audit(world: tuple[TestClient, ui_data.UiData, TraceStore]) -> None:
    client, data, _ = world
    query = "&".join(f"run={r}" for r in data.sweep)
    html = _ok(client, f"/compare?{query}")
    assert re.search(r'<th class="differs">train_model\.C</th>', html)
    assert '<th class="">seed</th>' in html  # same seed everywhere: not highlighted
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="plot"' in html
    assert html.count("<circle") == 3
    payload = client.get(f"/api/compare?{query}").json()
    assert "train_model.C" in payload["differing"]
    assert len(payload["rows"]) == 3
    diff = _ok(client, f"/diff?a={data.sweep[0]}&b={data.fork}")
    assert "shared (same record)" in diff
    assert client.get(f"/api/diff?a={data.sweep[0]}&b={data.fork}").json()["shared_steps"] == 3
    assert client.get("/diff?a=x").status_code == 400
    tree = _ok(client, f"/runs/{data.fork}/forks")
    assert data.sweep[0][:18] in tree
    assert data.fork[:18] in tree
    audit = _ok(client, f"/runs/{data.sweep[0]}/audit")
    assert "audit clean" in audit
    assert client.get(f"/api/runs/{data.sweep[0]}/audit").json()["clean"] is True


def test_hostile_text_is_escaped_everywhere(
    world: tuple[TestClient, ui_data.UiData, TraceStore],
) -> None:
    client, data, _ = world
    pages = [
        "/",
        f"/runs/{data.hostile}",
        f"/runs/{data.hostile}/steps/0",
        f"/runs/{data.hostile}/steps/1",
        f"/runs/{data.sweep[0]}",  # its note
        f"/compare?run={data.hostile}&run={data.sweep[0]}",
    ]
    for url in pages:
        html = _ok(client, url)
        assert "<script>" not in html, url
        assert "<img src=x" not in html, url
        assert "\x1b" not in html, url
        assert 'onerror="window' not in html, url
    step = _ok(client, f"/runs/{data.hostile}/steps/0")
    assert "&lt;script&gt;window.__xss=1" in step  # shown, as text
    assert "\\x1b[31mred" in step  # the ANSI escape, visible
    assert 'id="llm-exchange"' in step
    assert 'id="llm-reply"' in step
    failed = _ok(client, f"/runs/{data.hostile}/steps/1")
    assert 'id="recovered-by-link"' in failed
    assert 'id="recovers-link"' in _ok(client, f"/runs/{data.hostile}/steps/2")


def test_only_local_host_names_are_served(
    world: tuple[TestClient, ui_data.UiData, TraceStore],
) -> None:
    client, _, _ = world
    assert client.get("/", headers={"host": "evil.example"}).status_code == 400
    # Starlette's test client's name: no machine's, so a name a rebinding page could use
    assert client.get("/", headers={"host": "testserver"}).status_code == 400
    assert client.get("/static/app.js").status_code == 200
    assert client.post("/").status_code == 405  # read-only


def test_unknown_run_is_a_404_page(world: tuple[TestClient, ui_data.UiData, TraceStore]) -> None:
    client, _, _ = world
    response = client.get("/runs/zzzz")
    assert response.status_code == 404
    assert "no run with id or prefix" in response.text
    assert client.get("/api/runs/zzzz").status_code == 404


def test_app_over_a_memory_store_needs_no_files(tmp_path: Path) -> None:
    from reprolam.trace import MemoryStore

    store = MemoryStore()
    with TestClient(
        create_app(store, index_in_background=False), base_url="http://localhost"
    ) as client:
        assert "no runs match" in _ok(client, "/")


def test_reprolam_ui_serves_the_store_on_loopback(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    store = SQLiteStore(tmp_path / "store")
    ui_data.hostile_run(store)
    store.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    main = "from reprolam.cli.main import main; main()"
    command = [sys.executable, "-c", main, "--store", str(tmp_path / "store")]
    server = subprocess.Popen(
        [*command, "ui", "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    html = response.read().decode()
                    csp = response.headers["content-security-policy"]
                break
            except OSError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "reprolam ui did not answer"
                time.sleep(0.2)
        assert "hostile&lt;b&gt;" in html
        assert "script-src 'self'" in csp
    finally:
        server.terminate()
        server.wait(10)


def test_reproduction_verdicts_are_shown_and_filtered(tmp_path: Path) -> None:
    from reprolam import open as open_client

    store = SQLiteStore(tmp_path / "store")
    with open_client(store) as rl:
        original = rl.run("breast-cancer", planner="rules")
        attempt = rl.reproduce(original.id)
    assert attempt.reproduction is not None
    verdict = attempt.reproduction.verdict
    assert verdict in ("identical", "within-tolerance")
    with TestClient(
        create_app(store, index_in_background=False), base_url="http://localhost"
    ) as client:
        assert f'class="verdict verdict-{verdict}"' in _ok(client, f"/runs/{original.id}")
        assert f'class="verdict verdict-{verdict}"' in _ok(client, "/")
        reproduced = client.get("/api/runs", params={"verdict": "reproduced"}).json()
        assert [r["id"] for r in reproduced["runs"]] == [original.id]
        assert client.get("/api/runs", params={"verdict": "diverged"}).json()["total"] == 0
    store.close()


def test_step_page_lists_what_the_action_read_outside_the_door(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import reprolam
    from env_flow import FLOW, SCALE
    from reprolam.hashing import digest

    monkeypatch.setenv(SCALE, "2")
    # the action sets it; set already, it is left as it was: no write of the environment
    monkeypatch.setenv("REPROLAM_TEST_OWN", "1")
    with reprolam.open("memory:") as rl:
        run = rl.run(FLOW, planner="rules")
        with TestClient(
            create_app(rl.store, index_in_background=False), base_url="http://localhost"
        ) as client:
            html = _ok(client, f"/runs/{run.id}/steps/0")
            payload = client.get(f"/api/runs/{run.id}/steps/0").json()
    (listed,) = re.findall(r'<ul id="step-effects"><li>(.*?)</li></ul>', html)
    assert listed == f"undeclared env read: ${SCALE} [value blake3 {digest(b'2')[:12]}]"
    assert payload["effects"] == [listed]  # the JSON says it in the same words


def test_numbers_beyond_64_bits_in_a_runs_query_are_answered_not_a_500(tmp_path: Path) -> None:
    """SQLite integers are 64-bit: ``?offset=`` past that was an OverflowError (a 500), and a
    seed past it (stored as decimal text) could not be found with ``?seed=``."""
    import reprolam

    big = 2**64 + 5
    with reprolam.open(tmp_path / "store") as rl:
        run = rl.run("breast-cancer", planner="rules", seed=big)
        with TestClient(
            create_app(rl.store, index_in_background=False), base_url="http://localhost"
        ) as client:
            found = client.get("/api/runs", params={"seed": str(big)})
            assert found.status_code == 200, found.text
            assert [r["id"] for r in found.json()["runs"]] == [run.id]
            for url in (f"/?offset={2**64}", f"/api/runs?offset={2**64}"):
                response = client.get(url)
                assert response.status_code == 400, (url, response.text[:300])
                assert "offset" in response.text


def test_every_step_link_leads_to_a_step_the_last_has_no_next(tmp_path: Path) -> None:
    """The last step's page linked "next" to a step that does not exist (a 404)."""
    from reprolam.trace import MemoryStore

    store = MemoryStore()
    run_id, _ = ui_data.hostile_run(store)
    with TestClient(
        create_app(store, index_in_background=False), base_url="http://localhost"
    ) as client:
        for index in range(3):
            html = _ok(client, f"/runs/{run_id}/steps/{index}")
            for link in re.findall(rf'href="(/runs/{run_id}/steps/\d+)"', html):
                _ok(client, link)
            assert ('id="next-step"' in html) == (index < 2)


def test_a_huge_param_does_not_make_a_huge_run_page_or_picture(tmp_path: Path) -> None:
    """A 5 MB param was written in full into the run page's overrides and into its trace
    picture (each step's tooltip, a fork's headline): a 20 MB page that took Chromium 15 s
    and squeezed the facts column to a few characters. The diff and compare pages held it
    whole too (each run's row: a sweep's comparison N times). The step page shows it all."""
    import reprolam

    huge = "é" * 1_000_000
    with reprolam.open("memory:") as rl:
        parent = rl.run(LABEL_FLOW, planner="script")
        fork = rl.fork(parent.id, at="label", set={"label.text": huge})
        for fmt in ("svg", "dot", "mermaid"):
            assert len(rl.export(fork.id, format=fmt)) < 50_000, fmt
        with TestClient(
            create_app(rl.store, index_in_background=False), base_url="http://localhost"
        ) as client:
            assert len(_ok(client, f"/runs/{fork.id}")) < 50_000
            # the diff and the comparison held it whole, in every run's row
            assert len(_ok(client, f"/diff?a={parent.id}&b={fork.id}")) < 50_000
            assert len(_ok(client, f"/compare?run={parent.id}&run={fork.id}")) < 50_000
            assert huge in _ok(client, f"/runs/{fork.id}/steps/0")


def test_links_to_a_run_whose_id_holds_url_characters_reach_that_run() -> None:
    """An imported run's id may hold ``?``, ``#``, ``%`` or spaces (only ``/`` and ``\\`` are
    refused): links wrote it raw, so ``/runs/a?x`` opened run prefix ``a`` (another run, or
    a 400 when several start so) and a step link dropped everything after the ``#``."""
    import time
    from dataclasses import replace

    from reprolam.hashing import canonical_json_bytes, digest
    from reprolam.trace import (
        ArtifactRecord,
        MemoryStore,
        RunRecord,
        RunStatus,
        StepKind,
        StepRecord,
        StepStatus,
    )
    from reprolam.trace.records import seal

    store = MemoryStore()
    value = canonical_json_bytes({"n": 1})
    artifact = ArtifactRecord(digest(value), "json", len(value))
    ids = ["a?x=1&y#z", "a b#c"]  # (no %: the test client unquotes a path twice)
    for run_id in ids:
        store.create_run(RunRecord(id=run_id, workflow="w", seed=0, created_at=time.time()))
        first = StepRecord(run_id, 0, StepKind.ACTION, "act", StepStatus.SUCCEEDED, time.time())
        head = store.get_run(run_id).header_hash or ""
        step = seal(replace(first, outputs={"out": artifact.digest}, prev_hash=head))
        finished = replace(store.get_run(run_id), status=RunStatus.SUCCEEDED, finished_at=1.0)
        store.record(steps=[step], artifacts=[(artifact, value)], run=finished)
    with TestClient(
        create_app(store, index_in_background=False), base_url="http://localhost"
    ) as client:
        for run_id in ids:
            html = _ok(client, "/")
            links = {u for u in re.findall(r'href="(/runs/[^"]*)"', html)}
            html = _ok(client, f"/runs/{quote(run_id, safe='')}")
            links |= set(re.findall(r'href="(/(?:runs|api)/[^"]*)"', html))
            for link in sorted(links):
                page = client.get(link.replace("&amp;", "&"))
                assert page.status_code == 200, (link, page.text[:300])
            step_links = [u for u in links if "/steps/" in u and quote(run_id, safe="") in u]
            assert step_links
            assert "Step 0" in _ok(client, step_links[0])


def test_bound_to_every_interface_it_answers_at_the_machines_addresses_and_name(
    tmp_path: Path,
) -> None:
    """``reprolam ui --host 0.0.0.0`` warned that anyone could read the store, then refused
    every request naming the machine's address or name ("Invalid host header"): only
    loopback names passed. A request naming the address it arrived at, or the machine's
    name, is served now; any other name still is not (DNS rebinding)."""
    import http.client
    import socket
    import subprocess
    import sys
    import time

    store = SQLiteStore(tmp_path / "store")
    ui_data.hostile_run(store)
    store.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    main = "from reprolam.cli.main import main; main()"
    command = [sys.executable, "-c", main, "--store", str(tmp_path / "store")]
    server = subprocess.Popen(
        [*command, "ui", "--host", "0.0.0.0", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

    def status(address: str, host: str) -> int:
        connection = http.client.HTTPConnection(address, port, timeout=5)
        try:
            connection.request("GET", "/", headers={"Host": f"{host}:{port}"})
            return connection.getresponse().status
        finally:
            connection.close()

    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status("127.0.0.1", "127.0.0.1")
                break
            except OSError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "reprolam ui did not answer"
                time.sleep(0.2)
        # 127.0.0.2 is this machine (all of 127/8 is loopback) but no loopback *name*.
        assert status("127.0.0.2", "127.0.0.2") == 200
        assert status("127.0.0.1", socket.gethostname()) == 200
        assert status("127.0.0.1", "evil.example") == 400
        assert status("127.0.0.2", "127.0.0.3") == 400
    finally:
        server.terminate()
        server.wait(10)


def test_a_taken_port_is_one_error_line_and_port_0_prints_the_port_chosen(tmp_path: Path) -> None:
    """A port in use was uvicorn's "ERROR: [Errno 98] ..." and exit 3, after the URL had been
    printed as if served; ``--port 0`` printed ``http://127.0.0.1:0/``."""
    import socket
    import subprocess
    import sys

    store = SQLiteStore(tmp_path / "store")
    ui_data.hostile_run(store)
    store.close()
    main = "from reprolam.cli.main import main; main()"
    command = [sys.executable, "-c", main, "--store", str(tmp_path / "store"), "ui"]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused = subprocess.run(
            [*command, "--port", str(port)], capture_output=True, text=True, timeout=60, check=False
        )
    assert refused.returncode == 2, refused.stderr
    assert refused.stdout == ""
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith(f"error: cannot listen on 127.0.0.1:{port}: ")
    assert "another --port" in line
    server = subprocess.Popen(
        [*command, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        said = server.stdout.readline()
        chosen = int(re.search(r"http://127\.0\.0\.1:(\d+)/", said)[1])  # type: ignore[index]
        assert chosen != 0
        with socket.create_connection(("127.0.0.1", chosen), timeout=10):
            pass
    finally:
        server.terminate()
        server.wait(10)


def test_the_fork_tree_has_a_json_twin_as_every_page_does() -> None:
    """``/runs/RUN/forks`` was the one page without its ``/api/`` twin (a 404)."""
    import reprolam

    with reprolam.open("memory:") as rl:
        parent = rl.run(LABEL_FLOW, planner="script")
        fork = rl.fork(parent.id, at="label", set={"label.text": "longer"})
        with TestClient(
            create_app(rl.store, index_in_background=False), base_url="http://localhost"
        ) as client:
            response = client.get(f"/api/runs/{fork.id}/forks")
            assert response.status_code == 200, response.text
            tree = response.json()
            assert client.get("/api/runs/zzzz/forks").status_code == 404
    assert tree["current"] == fork.id
    assert [(r["depth"], r["id"]) for r in tree["runs"]] == [(0, parent.id), (1, fork.id)]
    assert tree["runs"][1]["parent_id"] == parent.id
    assert tree["capped"] is False


def test_a_store_it_may_only_read_still_shows_each_runs_metrics(tmp_path: Path) -> None:
    """Metrics are indexed when runs are first listed; a store this process may not write
    (shared read-only) could not be indexed, so its runs listed no metrics at all: the UI's
    runs page and `reprolam runs` showed empty columns. They are read from the outputs."""
    import reprolam

    with reprolam.open(tmp_path / "store") as rl:  # recording indexes nothing
        run = rl.run(LABEL_FLOW, planner="script", set={"label.text": "abcd"})
    store = SQLiteStore(tmp_path / "store", read_only=True)
    with TestClient(
        create_app(store, index_in_background=False), base_url="http://localhost"
    ) as client:
        (row,) = client.get("/api/runs").json()["runs"]
        html = _ok(client, "/")
    store.close()
    assert row["id"] == run.id
    assert row["metrics"] == {"length": 4.0}
    assert ">length<" in html


def test_a_metric_filter_that_misses_unindexed_runs_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a store this process may only read, runs never indexed were silently left out of
    a metric's list: `runs --metric` said "no runs match ... drop --metric" and exited 0."""
    from click.testing import CliRunner

    import reprolam
    from reprolam.cli.main import cli
    from reprolam.trace import sqlite as sqlite_module

    with reprolam.open(tmp_path / "store") as rl:  # recording indexes nothing
        rl.run(LABEL_FLOW, planner="script")
    store = SQLiteStore(tmp_path / "store", read_only=True)
    with TestClient(
        create_app(store, index_in_background=False), base_url="http://localhost"
    ) as client:
        assert 'id="unindexed-note"' in _ok(client, "/?metric=length")
        assert 'id="unindexed-note"' not in _ok(client, "/")
    store.close()
    monkeypatch.setattr(sqlite_module, "is_read_only", lambda *_: True)
    result = CliRunner().invoke(
        cli, ["--store", str(tmp_path / "store"), "runs", "--metric", "length"]
    )
    assert result.exit_code == 1, result.output
    assert "warning: some finished runs have no indexed metrics" in result.stderr


def test_a_right_to_left_override_is_shown_not_obeyed() -> None:
    """U+202E reversed everything after it on the page: an error or note could read the
    opposite of what is recorded ("deifirev" shown as "verified"). Bidirectional overrides
    and isolates are written out, as control characters are, in the UI, the notebook and the
    terminal."""
    from reprolam.history.annotate import note
    from reprolam.notebook import esc
    from reprolam.trace import MemoryStore

    store = MemoryStore()
    run_id, _ = ui_data.hostile_run(store)
    note(store, run_id, "audit: \u202edeifirev\u202c ok")
    with TestClient(
        create_app(store, index_in_background=False), base_url="http://localhost"
    ) as client:
        html = _ok(client, f"/runs/{run_id}")
    assert "\u202e" not in html
    assert "audit: \\u202edeifirev\\u202c ok" in html
    assert esc("\u2067x\u2069") == "\\u2067x\\u2069"


def test_a_filter_no_record_can_hold_is_a_400_not_a_store_error(
    world: tuple[TestClient, ui_data.UiData, TraceStore],
) -> None:
    client, _, _ = world
    # PostgreSQL cannot compare a NUL: the list failed as a store error
    for query in ("tag=a%00b", "workflow=%00", "planner=x%00"):
        response = client.get(f"/api/runs?{query}")
        assert response.status_code == 400, (query, response.text)
        assert "NUL" in response.json()["error"]


def test_a_store_whose_server_stopped_is_a_503_page_then_pages_come_back(
    tmp_path: Path,
) -> None:
    bindir = pg.find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found (install postgresql, as .ci/run does)")
    with pg.running_server(bindir) as server:
        store = PostgresStore(server.create_database(), artifacts_dir=tmp_path / "artifacts")
        ui_data.build(store)
        with TestClient(
            create_app(store, index_in_background=False), base_url="http://localhost"
        ) as client:
            _ok(client, "/")
            server.stop()
            # the server is down: not the user's bad input (it was a 400)
            for url in ("/api/runs", "/"):
                down = client.get(url)
                assert down.status_code == 503, (url, down.text[:300])
                assert "Traceback" not in down.text
            server.serve()
            _ok(client, "/")
        store.close()


def test_an_empty_host_is_refused_not_read_as_every_interface(tmp_path: Path) -> None:
    """`ui --host ''` listened on every interface and printed http://:8765/."""
    from click.testing import CliRunner

    from reprolam.cli.main import cli

    SQLiteStore(tmp_path / "store").close()
    result = CliRunner().invoke(cli, ["--store", str(tmp_path / "store"), "ui", "--host", ""])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == (
        "error: --host '' is empty: give an address to listen on, e.g. --host 127.0.0.1 "
        "(this machine only), or --host 0.0.0.0 for every interface"
    )
    assert result.stdout == ""


@action(outputs=["metrics"])
def tiny_loss(*, loss: float = 1e-07) -> dict[str, float]:
    return {"loss": loss, "n_test": 142.0, "score": 0.978873}


def test_small_metrics_read_as_show_words_them_not_as_zero() -> None:
    """The runs list, the run page and the diff wrote a float metric with four decimals: a
    loss of 1e-07 read 0.0000, and a diff of losses 1e-07 and 2e-07 showed 0.0000 against
    0.0000. They read as ``reprolam runs`` and ``show`` word them (brief.number_words)."""
    import reprolam

    flow = workflow("ui-tiny", [tiny_loss], outputs=["metrics"])
    with reprolam.open("memory:") as rl:
        a = rl.run(flow, planner="script")
        b = rl.run(flow, planner="script", set={"tiny_loss.loss": 2e-07})
        with TestClient(
            create_app(rl.store, index_in_background=False), base_url="http://localhost"
        ) as client:
            pages = [_ok(client, "/"), _ok(client, f"/runs/{a.id}")]
            diff = _ok(client, f"/diff?a={a.id}&b={b.id}")
    for html in pages:
        assert ">1e-07<" in html, html
        assert ">142<" in html
        assert ">0.9789<" in html
        assert "0.0000" not in html
    assert ">1e-07<" in diff
    assert ">2e-07<" in diff


def test_a_run_with_more_forks_than_its_page_lists_says_how_many() -> None:
    """A sweep's parent with more than 100 forks listed the 100 newest under Forks and said
    nothing of the others, as if those were all its forks; the page says how many there are
    and where the rest are."""
    import reprolam

    with reprolam.open("memory:") as rl:
        parent = rl.run(LABEL_FLOW, planner="script")
        for n in range(101):
            rl.fork(parent.id, at="label", set={"label.text": "x" * n})
        with TestClient(
            create_app(rl.store, index_in_background=False), base_url="http://localhost"
        ) as client:
            html = _ok(client, f"/runs/{parent.id}")
            few = _ok(client, f"/runs/{rl.runs(limit=1)[0].id}")
    assert html.count("at step 0") == 100
    assert "the 100 newest of 101 forks" in html
    assert f'href="/runs/{parent.id}/forks"' in html
    assert 'id="forks-more"' not in few


def test_a_fork_tree_that_leaves_forks_out_says_it_is_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fork tree read the first 1000 forks of each run and said nothing of the others
    (``capped`` false): a sweep of more points showed a tree that looked whole."""
    import reprolam
    from reprolam.ui import views

    monkeypatch.setattr(views, "MAX_FORK_CHILDREN", 2, raising=False)
    with reprolam.open("memory:") as rl:
        parent = rl.run(LABEL_FLOW, planner="script")
        for n in range(3):
            rl.fork(parent.id, at="label", set={"label.text": "x" * n})
        with TestClient(
            create_app(rl.store, index_in_background=False), base_url="http://localhost"
        ) as client:
            tree = client.get(f"/api/runs/{parent.id}/forks").json()
            html = _ok(client, f"/runs/{parent.id}/forks")
    assert len(tree["runs"]) == 3
    assert tree["capped"] is True
    assert "tree cut at" in html


@action(outputs=["metrics"])
def lossy(*, loss: float = 1.0) -> dict[str, float]:
    return {"val_loss": loss, "accuracy": 1 - loss / 10}


def test_a_metric_lists_runs_best_first_as_runs_does() -> None:
    """``?metric=val_loss`` listed the highest loss first (every metric descending), where
    ``reprolam runs --metric val_loss`` lists the lowest first: the page's top run was the
    worst. A metric is best first unless ``dir`` says otherwise."""
    import reprolam

    flow = workflow("ui-lossy", [lossy], outputs=["metrics"])
    with reprolam.open("memory:") as rl:
        ids = {v: rl.run(flow, planner="script", set={"lossy.loss": v}).id for v in (2.0, 1.0, 3.0)}
        with TestClient(
            create_app(rl.store, index_in_background=False), base_url="http://localhost"
        ) as client:

            def listed(query: str) -> list[str]:
                return [r["id"] for r in client.get(f"/api/runs?{query}").json()["runs"]]

            newest = listed("")  # listing indexes the page's metrics
            by_loss = listed("metric=val_loss")
            by_accuracy = listed("metric=accuracy")
            asked_desc = listed("metric=val_loss&dir=desc")
            asked_asc = listed("metric=accuracy&dir=asc")
            html = _ok(client, "/?metric=val_loss")
    assert by_loss == [ids[1.0], ids[2.0], ids[3.0]]
    assert by_accuracy == by_loss
    assert asked_desc == by_loss[::-1]
    assert asked_asc == by_loss[::-1]
    assert newest == [ids[3.0], ids[1.0], ids[2.0]]
    assert ">best first<" in html


def test_the_runs_list_names_a_forks_parent_as_it_names_runs() -> None:
    """'fork of' and 'reproduces' named the other run by 8 characters of its id, which every
    run made within about a minute shares (UUIDv7 ids begin with the time): a sweep's forks
    all read 'fork of 01a23d97' beside runs listed as 01a23d97-..., naming no run."""
    import reprolam

    with reprolam.open("memory:") as rl:
        parent = rl.run(LABEL_FLOW, planner="script")
        rl.fork(parent.id, at="label", set={"label.text": "longer"})
        rl.reproduce(parent.id)
        with TestClient(
            create_app(rl.store, index_in_background=False), base_url="http://localhost"
        ) as client:
            html = _ok(client, "/")
    named = f'title="{parent.id}">{parent.id[:18]}</a>'
    assert f"{named} at 0" in html
    assert f'reproduces <a class="id" href="/runs/{parent.id}" {named}' in html


@action(outputs=["metrics"])
def unbounded() -> dict[str, float]:
    return {"loss": float("nan"), "ratio": float("inf"), "gap": float("-inf"), "ok": 1.0}


def test_json_twins_spell_non_finite_numbers_as_json_does() -> None:
    """The JSON twins wrote a NaN or infinite metric as Python's repr ('nan', 'inf',
    '-inf'), where ``reprolam show --json`` and every other ``--json`` write "NaN",
    "Infinity" and "-Infinity": a reader of both saw two values for one record."""
    import reprolam

    flow = workflow("ui-unbounded", [unbounded], outputs=["metrics"])
    expected = {"loss": "NaN", "ratio": "Infinity", "gap": "-Infinity", "ok": 1.0}
    with reprolam.open("memory:") as rl:
        run = rl.run(flow, planner="script")
        with TestClient(
            create_app(rl.store, index_in_background=False), base_url="http://localhost"
        ) as client:
            shown = client.get(f"/api/runs/{run.id}").json()
            compared = client.get(f"/api/compare?run={run.id}").json()
    assert shown["metrics"] == expected
    assert compared["rows"][0]["metrics.loss"] == "NaN"


def test_a_reused_step_says_so_and_links_the_step_it_took_its_outputs_from() -> None:
    """A step reused with --reuse (its outputs taken from a recorded step, not computed) was
    shown as having taken '0.0 ms' on the run page, and its page did not say it was reused;
    ``reprolam show`` says 'reused'. Both pages say so, the step page linking the step."""
    import reprolam

    with reprolam.open("memory:") as rl:
        first = rl.run(LABEL_FLOW, planner="script")
        again = rl.run(LABEL_FLOW, planner="script", reuse=True)
        with TestClient(
            create_app(rl.store, index_in_background=False), base_url="http://localhost"
        ) as client:
            run_page = _ok(client, f"/runs/{again.id}")
            step_page = _ok(client, f"/runs/{again.id}/steps/0")
            computed = _ok(client, f"/runs/{first.id}")
    assert ">reused<" in run_page
    assert ">reused<" not in computed
    assert 'id="reused-from"' in step_page
    assert f'href="/runs/{first.id}/steps/0">step 0 of {first.id[:18]}</a>' in step_page


def test_a_run_reproduced_more_often_than_its_page_lists_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The run page listed a run's 50 newest reproductions and said nothing of the others,
    as if those were all its reproductions; it says that there are more."""
    import reprolam
    from reprolam.ui import views

    monkeypatch.setattr(views, "MAX_REPRODUCTIONS_LISTED", 2, raising=False)
    with reprolam.open("memory:") as rl:
        run = rl.run(LABEL_FLOW, planner="script")
        for _ in range(3):
            rl.reproduce(run.id)
        with TestClient(
            create_app(rl.store, index_in_background=False), base_url="http://localhost"
        ) as client:
            html = _ok(client, f"/runs/{run.id}")
    listed = html.split('id="reproductions"')[1].split("</ul>")[0]
    assert listed.count("<li>") == 2
    assert 'id="reproductions-more"' in html
