"""OS entropy drawn by an action, seen as an undeclared effect (``global_rng``).

``os.urandom`` (and ``os.getrandom``) and what is built on it (``uuid.uuid4``, ``secrets``,
``random.SystemRandom``, NumPy's ``default_rng()`` without a seed, which seeds from
``secrets``) make an action's outputs differ at every execution, like the global RNGs the
watch compares before and after: a reproduction then diverges with nothing recorded to say
why. The watch cannot mark an entropy source, so the Python names every such draw goes
through (``os.urandom``, ``os.getrandom``, and ``random._urandom``, which ``SystemRandom``
calls) are replaced once per process by probes that note the draw while an action is
watched and cost one comparison otherwise.

Only draws made by the action's own code are noted: the first frame outside the plumbing
(``os``, ``random``, ``secrets``, ``uuid``) must not be in an installed library or the
standard library. Libraries draw ids that never reach an output (scikit-learn names each
fit's callback context with ``uuid4``); noting those would fail every step that fits a model
under the ``strict`` effects policy. So not seen either: entropy a library draws and returns
(an id it makes for you), entropy read in C (``getrandom`` called by an extension;
``/dev/urandom`` read directly), and a function bound to the original before the probes
were installed (``from os import urandom`` in a module imported before the first watched
action).
"""

from __future__ import annotations

import os
import random
import sys
import sysconfig
from collections.abc import Callable
from typing import Any

# The modules a draw passes through on its way from the action: the caller named is the
# first frame outside them (the action's own line, or the library it called).
_PLUMBING = frozenset({"os", "random", "secrets", "uuid", __name__})


def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    return tuple(sorted(os.path.join(r, "") for r in roots))


_LIBRARIES = _library_roots()


def install() -> None:
    """Replace ``os.urandom`` and ``random._urandom`` with probes, and ``random.Random.seed``
    (once: observe.install)."""
    real = os.urandom
    probe = _probe(real)
    os.urandom = probe
    if getattr(random, "_urandom", None) is real:
        random._urandom = probe  # type: ignore[attr-defined]
    if hasattr(os, "getrandom"):  # Linux: the getrandom(2) call, without os.urandom
        os.getrandom = _probe(os.getrandom, "os.getrandom")
    _probe_seeding()


def _probe_seeding() -> None:
    """``random.Random()`` and ``random.seed()`` without a seed draw OS entropy in C (no
    ``os.urandom``): ``Random.seed`` called with ``a=None`` is noted as such a draw."""
    from reprolam.engine import observe

    real = random.Random.seed
    if getattr(real, "__wrapped__", None) is not None:
        return

    def seed(self: random.Random, a: Any = None, version: int = 2) -> None:
        if a is None and observe._active:
            watch = observe._watch_here()
            if watch is not None and not getattr(observe._guard, "busy", False):
                _noted(watch, sys._getframe(1), observe, "random seeded from the OS")
        real(self, a, version)

    seed.__name__ = seed.__qualname__ = "seed"
    seed.__doc__ = real.__doc__
    seed.__wrapped__ = real  # type: ignore[attr-defined]
    random.Random.seed = seed  # type: ignore[method-assign]
    if getattr(random.seed, "__func__", None) is real:
        random.seed = random._inst.seed  # bound at import


def _probe(real: Callable[..., bytes], source: str = "os.urandom") -> Callable[..., bytes]:
    from reprolam.engine import observe

    def urandom(size: int, /, *flags: int) -> bytes:
        if observe._active:
            watch = observe._watch_here()
            if watch is not None and not getattr(observe._guard, "busy", False):
                _noted(watch, sys._getframe(1), observe, source)
        return real(size, *flags)

    urandom.__name__ = urandom.__qualname__ = real.__name__
    urandom.__doc__ = real.__doc__
    urandom.__wrapped__ = real  # type: ignore[attr-defined]
    return urandom


def _noted(watch: Any, caller: Any, observe: Any, source: str = "os.urandom") -> None:
    frame = caller
    while frame is not None and frame.f_globals.get("__name__") in _PLUMBING:
        frame = frame.f_back
    if frame is None:
        return
    filename = frame.f_code.co_filename
    # site-packages of every kind (the system's from a --system-site-packages venv, Debian's
    # dist-packages, the user's), as the clock rule reads them, not this venv's alone
    if filename.startswith(_LIBRARIES) or observe._package_code(filename):
        return  # a library's own draw (an id it keeps), not the action's (see the docstring)
    if str(frame.f_globals.get("__name__", "")).startswith("reprolam."):
        return  # reprolam's own (a temporary file's name while storing a file output)
    if observe._importing(frame):
        return  # drawn while importing a module: the import's, not the action's
    where = f"{frame.f_code.co_filename}:{frame.f_lineno}"
    watch.note("global_rng", f"OS entropy ({source}) at {where}")
