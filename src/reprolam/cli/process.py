"""The ``reprolam`` command's own process: start-up and exit work no library caller pays.

Only the command (``reprolam.cli.main``: the console script, ``python -m reprolam``) owns its
process and calls ``own_process``; ``cli`` called from a program or a test changes nothing
here, so a caller keeps its garbage collector and its interpreter exit as they were.

* **Start-up.** Cyclic garbage collection waits until the command has imported what it needs:
  imports create long-lived objects (modules, classes, functions), and each full collection
  while click, rich, the store and numpy load would rescan all of them. ``settle``
  then exempts everything loaded from later collections (``gc.freeze``) and turns collection
  back on, so the command's own work is collected as usual. Reference counting frees objects
  all along; only cycles created during the imports wait (and are frozen with the rest).
* **Exit.** Once the command is done, its store closed and its output written, the
  interpreter's teardown (a last full collection, then every module and object freed one by
  one: about 0.2 s after numpy, pandas and scikit-learn) changes nothing anyone can see. The
  process ends right after the exit handlers: every ``atexit`` handler (logging, temporary
  directories, multiprocessing, Dask) has run and every non-daemon thread has been joined by
  then, as at any exit; stdout and stderr are flushed; the exit code is the command's.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import sys
from collections.abc import Iterator

_STATE: dict[str, object] = {"owned": False, "exit_code": None, "quick_exit": False}


def own_process() -> None:
    """Called first by the command's entry point: hold collection, arrange the quick exit."""
    if _STATE["owned"]:
        return
    _STATE["owned"] = True
    gc.disable()
    # Exit handlers run last-registered first: registered before anything the command
    # imports registers its own, this one runs after all of them. One registered earlier
    # (by a site customization, e.g. coverage of subprocesses) would run after it, so then
    # the process ends the ordinary way.
    count = getattr(atexit, "_ncallbacks", None)
    _STATE["quick_exit"] = count is not None and count() == 0
    atexit.register(_end_process)


@contextlib.contextmanager
def json_kept_apart(as_json: bool) -> Iterator[None]:
    """While a ``--json`` command runs actions, the process's file descriptor 1 is its
    stderr: what a process an action starts (``subprocess.run(["echo", ...])``), C code or a
    write to ``sys.__stdout__`` sends there cannot land in the JSON document on stdout,
    which is written once it is put back. Only in the command's own process."""
    if not as_json or not owns_process():
        yield
        return
    _flush()
    try:
        saved = os.dup(1)
        os.dup2(2, 1)
    except OSError:  # no descriptors to spare: as before
        yield
        return
    try:
        yield
    finally:
        _flush()
        os.dup2(saved, 1)
        os.close(saved)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__):
        with contextlib.suppress(Exception):
            if stream is not None:
                stream.flush()


def owns_process() -> bool:
    """True in the ``reprolam`` command's process, False for a program calling ``cli``."""
    return bool(_STATE["owned"])


def settle() -> None:
    """Start-up is over: freeze what is loaded, collect cyclic garbage again from here on.

    Called by each command once it has imported what it needs (``run``: the engine, numpy and
    pandas), and by the group for commands that do not call it themselves. Calling it again
    freezes what was imported since.
    """
    if not owns_process():
        return
    gc.freeze()
    gc.enable()


def finished(code: object) -> None:
    """Note how the command ended (a ``SystemExit`` code: None or an int); the quick exit
    uses it. Anything else (an uncaught exception, a text exit code) leaves the ordinary exit."""
    if code is None:
        code = 0
    _STATE["exit_code"] = code if isinstance(code, int) and not isinstance(code, bool) else None


def _end_process() -> None:
    code = _STATE["exit_code"]
    if not _STATE["quick_exit"] or not isinstance(code, int):
        return  # no code known (an uncaught exception): the interpreter ends as usual
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        return  # e.g. a closed pipe: the interpreter reports it as usual
    os._exit(code)
