"""The web UI end to end in headless Chromium (Debian's package, driven by Playwright).

Skips only when chromium or playwright is absent (`.ci/run` installs both). With
REPROLAM_SCREENSHOTS=DIR the main pages' screenshots are also saved there (the README's
come from `REPROLAM_SCREENSHOTS=docs/screenshots python -m pytest tests/test_browser.py`).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import ui_data
from reprolam.trace import RunStatus, SQLiteStore, StepKind, StepRecord, StepStatus
from reprolam.trace.records import RunRecord, seal

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed: pip install 'reprolam[ui-test]'"
)
pytest.importorskip("uvicorn", reason="the ui extra is not installed: pip install 'reprolam[ui]'")
if not os.path.exists(CHROMIUM):
    pytest.skip(
        "chromium is not installed: apt-get install chromium (`.ci/run` does)",
        allow_module_level=True,
    )

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]  # a browser and a store of runs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ui_data.UiData, Any]]:
    import uvicorn

    from reprolam.ui.app import create_app

    store = SQLiteStore(tmp_path_factory.mktemp("browser") / "store")
    data = ui_data.build(store)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(store), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the UI server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", data, store
    server.should_exit = True
    thread.join(10)
    store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    opened.dialogs = []
    opened.on("dialog", lambda d: (opened.dialogs.append(d.message), d.dismiss()))
    opened.console_errors = []
    opened.on(
        "console", lambda m: opened.console_errors.append(m.text) if m.type == "error" else None
    )
    yield opened
    context.close()


def _shot(page: Any, name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path))
    assert path.stat().st_size > 1000
    target = os.environ.get("REPROLAM_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


def test_list_filter_open_run_click_step(
    served: tuple[str, ui_data.UiData, Any], page: Any, tmp_path: Path
) -> None:
    base, data, store = served
    page.goto(base + "/")
    assert page.locator("#runs-table tbody tr").count() >= 5
    _shot(page, "runs", tmp_path)
    page.fill("input[name=tag]", "sweep")
    page.click("#apply-filters")
    page.wait_for_url("**/?*tag=sweep*")
    rows = page.locator("#runs-table tbody tr")
    assert rows.count() == 3
    assert "accuracy" in page.inner_text("#runs-table thead")
    page.click(f"a[href='/runs/{data.sweep[0]}']")
    page.wait_for_selector("#trace svg")
    _shot(page, "run", tmp_path)
    train = next(s for s in store.steps(data.sweep[0]) if s.action == "train_model")
    page.locator(f"#trace svg g#step-{train.index}").click()
    page.wait_for_url(f"**/runs/{data.sweep[0]}/steps/{train.index}")
    assert '"C": 0.01' in page.inner_text("#step-params")
    assert page.inner_text("#step-hash") == train.hash
    assert page.inner_text("#step-prev-hash") == train.prev_hash
    _shot(page, "step", tmp_path)
    assert page.dialogs == []


def test_image_artifact_is_shown(
    served: tuple[str, ui_data.UiData, Any], page: Any, tmp_path: Path
) -> None:
    base, data, _ = served
    page.goto(f"{base}/runs/{data.hostile}/steps/0")
    image = page.locator("img.artifact-image")
    image.wait_for()
    assert page.evaluate("(img) => img.complete && img.naturalWidth", image.element_handle()) == 24
    image.click()
    page.wait_for_url(f"**/artifacts/{data.image}/image.png")
    page.goto(f"{base}/artifacts/{data.image}")
    assert data.image in page.inner_text("#artifact-digest")
    assert page.evaluate("document.querySelector('img.artifact-image').naturalHeight") == 16


def test_compare_three_runs_of_a_sweep(
    served: tuple[str, ui_data.UiData, Any], page: Any, tmp_path: Path
) -> None:
    base, data, _ = served
    page.goto(base + "/?tag=sweep")
    for run_id in data.sweep:
        page.check(f"input[type=checkbox][value='{run_id}']")
    page.click("#compare-button")
    page.wait_for_selector("#compare-table")
    assert page.locator("#compare-table tbody tr").count() == 3
    highlighted = page.locator("#compare-table thead th.differs").all_inner_texts()
    assert "train_model.C" in highlighted
    assert "seed" not in highlighted
    assert page.locator("#plot svg circle").count() == 3
    _shot(page, "compare", tmp_path)


def test_hostile_text_is_shown_and_never_run(
    served: tuple[str, ui_data.UiData, Any], page: Any
) -> None:
    base, data, _ = served
    for url in (
        "/",
        f"/runs/{data.hostile}",
        f"/runs/{data.hostile}/steps/0",
        f"/runs/{data.hostile}/steps/1",
        f"/runs/{data.sweep[0]}",
    ):
        page.goto(base + url)
        page.wait_for_load_state("load")
        assert page.evaluate("typeof window.__xss") == "undefined", url
    page.goto(f"{base}/runs/{data.hostile}/steps/0")
    params = page.inner_text("#step-params")
    assert "<script>window.__xss=1;alert(1)</script>" in params
    assert '"onerror=alert(2)' in params or '\\"onerror=alert(2)' in params
    assert "\\u001b[31mred" in params  # JSON's own escape for ESC
    reply = page.inner_text("#llm-reply")
    assert "<script>" in reply
    assert "\\x1b[31mred" in reply  # plain text: the escape made visible
    assert page.locator("script:not([src])").count() == 0
    page.goto(f"{base}/runs/{data.hostile}/steps/1")
    assert "<script>" in page.inner_text("#step-error")
    assert page.dialogs == []
    assert page.evaluate("typeof window.__xss") == "undefined"


def test_a_running_runs_page_updates_as_steps_are_recorded(
    served: tuple[str, ui_data.UiData, Any], page: Any
) -> None:
    base, _, store = served
    run_id = f"0001-live-{time.time_ns()}"
    store.create_run(RunRecord(id=run_id, workflow="live", seed=0, created_at=time.time()))

    def step(index: int, prev: str) -> StepRecord:
        return seal(
            StepRecord(
                run_id,
                index,
                StepKind.ACTION,
                f"stage_{index}",
                StepStatus.SUCCEEDED,
                time.time(),
                prev_hash=prev,
                duration=0.01,
            )
        )

    first = step(0, "")
    store.record(steps=[first])
    store.flush()
    page.goto(f"{base}/runs/{run_id}")
    assert page.locator("#steps-table tbody tr").count() == 1
    assert page.locator("#live-note").count() == 1
    store.record(steps=[step(1, first.hash or "")])
    store.flush()
    # (wait_for_function would need eval, which the page's CSP forbids: locators instead)
    page.locator("#steps-table tbody tr").nth(1).wait_for(timeout=15000)
    assert page.locator("#steps-table tbody tr").count() == 2
    store.record(
        run=replace(store.get_run(run_id), status=RunStatus.SUCCEEDED, finished_at=time.time())
    )
    store.flush()
    page.locator("#live-note").wait_for(state="detached", timeout=15000)
    assert "succeeded" in page.inner_text("h1")
