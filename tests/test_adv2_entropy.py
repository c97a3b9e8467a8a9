"""OS entropy in an action declared pure: ``os.urandom``, ``uuid4``, ``secrets``,
``SystemRandom`` and an unseeded ``numpy.random.default_rng()`` made every execution's
outputs differ and nothing was recorded, so a reproduction diverged with a bare pair of
hashes. They are seen as an undeclared ``global_rng`` effect at the action's own line
(declared for ``nondeterministic`` actions, refused under ``strict``), and reproduce names
them. A library's own draws (an id it keeps, as scikit-learn's fit callbacks make) are not
the action's and are not noted.
"""

from __future__ import annotations

import os
import random
import secrets
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import reprolam
from reprolam import action, workflow
from reprolam.engine import entropy_probe
from reprolam.engine.policy import Policy
from reprolam.history.reproduce import reproduce
from reprolam.trace.memory import MemoryStore

DRAWS: dict[str, Callable[[], Any]] = {
    "urandom": lambda: os.urandom(8).hex(),
    "uuid4": lambda: str(uuid.uuid4()),
    "secrets": lambda: secrets.token_hex(8),
    "system_random": lambda: random.SystemRandom().random(),
    "numpy_default_rng": lambda: float(np.random.default_rng().random()),
}
LINE = DRAWS["urandom"].__code__.co_firstlineno  # every draw is on one of these lines


def _flow(draw: Callable[[], Any], determinism: str = "pure") -> Any:
    @action(outputs=["value"], determinism=determinism)  # type: ignore[call-overload]
    def drawing() -> Any:
        return draw()

    return workflow("entropy", [drawing], outputs=["value"])


@pytest.mark.parametrize("name", sorted(DRAWS))
def test_each_source_is_an_undeclared_effect_at_the_actions_line(name: str) -> None:
    store = MemoryStore()
    run = reprolam.run(_flow(DRAWS[name]), store=store, planner="script")
    [effect] = run.steps[0].proposal["observed"]["effects"]
    assert (effect["kind"], effect["declared"]) == ("global_rng", False)
    assert effect["target"].startswith(f"OS entropy (os.urandom) at {__file__}:")
    assert LINE <= int(effect["target"].rsplit(":", 1)[1]) <= LINE + len(DRAWS)


@pytest.mark.skipif(not hasattr(os, "getrandom"), reason="os.getrandom is Linux's")
def test_os_getrandom_is_an_undeclared_effect_at_the_actions_line() -> None:
    # os.getrandom draws from the OS without os.urandom: a pure action's record said nothing
    def draw() -> str:
        return os.getrandom(8, os.GRND_NONBLOCK).hex()

    run = reprolam.run(_flow(draw), store=MemoryStore(), planner="script")
    [effect] = run.steps[0].proposal["observed"]["effects"]
    assert (effect["kind"], effect["declared"]) == ("global_rng", False)
    assert effect["target"].startswith(f"OS entropy (os.getrandom) at {__file__}:")


@pytest.mark.skipif(not os.path.exists("/dev/urandom"), reason="no /dev/urandom")
def test_reading_dev_urandom_itself_is_an_undeclared_effect() -> None:
    # the OS's files are no reads, and os.urandom was not called: a pure action reading
    # /dev/urandom (open, or Path.open) recorded nothing
    def draw() -> str:
        with open("/dev/urandom", "rb") as device, Path("/dev/random").open("rb") as other:
            return device.read(8).hex() + other.read(8).hex()

    run = reprolam.run(_flow(draw), store=MemoryStore(), planner="script")
    effects = run.steps[0].proposal["observed"]["effects"]
    assert [(e["kind"], e["declared"]) for e in effects] == [("global_rng", False)] * 2
    assert effects[0]["target"].startswith(f"OS entropy (/dev/urandom read) at {__file__}:")
    assert effects[1]["target"].startswith(f"OS entropy (/dev/random read) at {__file__}:")


def test_declared_for_nondeterministic_and_refused_under_strict() -> None:
    store = MemoryStore()
    run = reprolam.run(_flow(DRAWS["uuid4"], "nondeterministic"), store=store, planner="script")
    [effect] = run.steps[0].proposal["observed"]["effects"]
    assert effect["declared"] is True
    strict = reprolam.run(
        _flow(DRAWS["uuid4"]), store=store, planner="script", policy=Policy(effects="strict")
    )
    assert not strict.succeeded
    error = strict.steps[0].error
    assert error is not None
    assert error.type == "UndeclaredEffect"
    assert "OS entropy" in error.message


def test_reproduce_names_the_entropy_it_diverged_on() -> None:
    store = MemoryStore()
    flow = _flow(DRAWS["secrets"])
    run = reprolam.run(flow, store=store, planner="script")
    result = reproduce(store, run.id, workflow=flow)
    assert result.divergence is not None
    assert "had undeclared effects when recorded" in result.summary()
    assert "OS entropy (os.urandom)" in result.summary()


def test_a_librarys_own_draw_is_not_the_actions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "idlib.py").write_text(
        "import uuid\n\ndef fit(x):\n    run_id = uuid.uuid4()  # kept, never returned\n"
        "    return x * 2\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(entropy_probe, "_LIBRARIES", (*entropy_probe._LIBRARIES, str(tmp_path)))
    import idlib

    try:
        run = reprolam.run(_flow(lambda: idlib.fit(21)), store=MemoryStore(), planner="script")
    finally:
        sys.modules.pop("idlib", None)
    assert "observed" not in run.steps[0].proposal
    assert run.outputs["value"] == 42


def test_a_draw_of_a_library_in_another_site_packages_is_not_the_actions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A library installed outside this venv's own site-packages (a --system-site-packages
    venv's base, Debian's dist-packages, the user's site) is installed too: its uuid4 was
    the action's global_rng effect (only sysconfig's purelib and platlib counted), so
    --effects strict failed every step calling it, scikit-learn's fit among them."""
    from reprolam import file_reads
    from reprolam.engine import observe

    site = tmp_path / "system-site-packages"
    site.mkdir()
    (site / "idlib2.py").write_text(
        "import uuid\n\ndef fit(x):\n    run_id = uuid.uuid4()  # kept, never returned\n"
        "    return x * 2\n"
    )
    roots = (*file_reads.package_roots(), os.path.realpath(site))
    monkeypatch.setattr(file_reads, "package_roots", lambda: roots)
    monkeypatch.syspath_prepend(str(site))
    observe._package_code.cache_clear()
    import idlib2

    try:
        run = reprolam.run(
            _flow(lambda: idlib2.fit(21)),
            store=MemoryStore(),
            planner="script",
            policy=Policy(effects="strict"),
        )
    finally:
        sys.modules.pop("idlib2", None)
        observe._package_code.cache_clear()
    assert run.succeeded, run.run.error
    assert "observed" not in run.steps[0].proposal


def test_reprolams_own_draws_are_not_the_actions(tmp_path: Path) -> None:
    from reprolam.hashing import digest
    from reprolam.trace.blobs import BlobDir

    def store_blob() -> str:  # a temporary file's name is drawn with secrets.token_hex
        data = b"kept"
        return str(BlobDir(tmp_path / "blobs").put(digest(data), data).name)

    run = reprolam.run(_flow(store_blob), store=MemoryStore(), planner="script")
    assert "observed" not in run.steps[0].proposal


def _seeded_flow(draw: Callable[[], Any]) -> Any:
    @action(outputs=["value"], determinism="seeded")
    def drawing() -> Any:
        return draw()

    return workflow("entropy", [drawing], outputs=["value"])


@pytest.mark.parametrize(
    ("draw", "determinism"),
    [
        (lambda: random.Random().random(), "pure"),
        (lambda: (random.seed(), random.random())[1], "seeded"),  # the seeded global reseeded
    ],
)
def test_random_seeded_from_the_os_is_an_undeclared_effect(
    draw: Callable[[], Any], determinism: str
) -> None:
    # Random() and random.seed() draw their seed in C (no os.urandom): a pure action's output,
    # or a seeded one's, differed at every execution and nothing was recorded
    flow = _flow(draw) if determinism == "pure" else _seeded_flow(draw)
    run = reprolam.run(flow, store=MemoryStore(), planner="script")
    [effect] = run.steps[0].proposal["observed"]["effects"]
    assert (effect["kind"], effect["declared"]) == ("global_rng", False)
    assert effect["target"].startswith(f"OS entropy (random seeded from the OS) at {__file__}:")
    strict = reprolam.run(
        flow, store=MemoryStore(), planner="script", policy=Policy(effects="strict")
    )
    assert strict.steps[0].status.value == "failed"
    # a seed given is no entropy
    given = _flow(lambda: random.Random(3).random())
    assert (
        "observed"
        not in reprolam.run(given, store=MemoryStore(), planner="script").steps[0].proposal
    )
