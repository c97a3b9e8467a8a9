"""A second Ctrl-C while the first is being handled does not cut that handling short.

Users press Ctrl-C twice. The first one stops the run; what follows it (recording the run as
interrupted, the CLI's line naming the run and ``reprolam resume``, closing the store) takes a
few milliseconds, and a second ``KeyboardInterrupt`` raised there left the run recorded as
still running or the line unsaid ('interrupted (Ctrl-C): no run was recorded' of a run that
was). While that happens, SIGINT is ignored: only in the main thread (the only one Python
delivers it to) and only when Python's own handler is in place (a handler of the user's, or
a notebook kernel's, is left alone).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_held: list[bool] = []  # one entry while hold_interrupts() holds SIGINT ignored


def hold_interrupts() -> None:
    """Ignore SIGINT from now until ``release_interrupts()`` (nothing if not ours to change)."""
    if _held or threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _held.append(True)


def release_interrupts() -> None:
    """Put Python's handler back, if ``hold_interrupts()`` took it away."""
    if _held and threading.current_thread() is threading.main_thread():
        _held.clear()
        signal.signal(signal.SIGINT, signal.default_int_handler)


@contextmanager
def interrupts_held() -> Iterator[None]:
    """SIGINT ignored while the body runs (unless it was held already: then it stays so)."""
    already = bool(_held)
    hold_interrupts()
    try:
        yield
    finally:
        if not already:
            release_interrupts()
