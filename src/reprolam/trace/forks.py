"""A store does not cross ``os.fork()``: in a forked child, the copy of a store its parent
opened is closed, and every call on it says so and names the fix.

A child using its parent's store would share what must not be shared: an SQLite
connection (SQLite forbids using one across a fork), a PostgreSQL session's socket (both
processes' messages interleave), the SQLite store's journal map (the child's frames would
land where the parent's next ones go), and locks that a thread of the parent held at the
fork (the child would wait for them forever). The child's copy is closed without touching
any of them, so the parent goes on as if nothing happened; the child opens the store again.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any

from reprolam.errors import StoreError
from reprolam.trace._rows import closed_error

_stores: weakref.WeakSet[Any] = weakref.WeakSet()


def open_stores() -> list[Any]:
    """The stores this process has opened and not yet dropped (closed ones included)."""
    return list(_stores)


class ForkGuard:
    """Mixed into a store: ``_guard_forks()`` when it opens; ``_closed`` in a forked child.

    The store keeps its lock in ``_lock`` (replaced in the child: a parent's thread may
    have held it) and may keep a ``threading.Condition`` on it in ``_changed``.
    """

    location: str
    _lock: threading.Lock
    _closed: bool
    _opened_by: int | None = None  # the pid of the process that opened the store
    _forked_from: int | None = None  # set in a forked child: the opener's pid

    def _guard_forks(self) -> None:
        self._opened_by = os.getpid()
        _stores.add(self)

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        if hasattr(self, "_changed"):
            self._changed = threading.Condition(self._lock)
        self._closed = True
        self._forked_from = self._opened_by

    def _closed_error(self) -> StoreError:
        if self._forked_from is not None:
            return StoreError(
                f"the trace store {self.location} was opened in process {self._forked_from}, "
                f"which forked this one ({os.getpid()}): a store (its database connection, "
                "its journal) does not cross a fork; open the store again in this process "
                "(reprolam.open or open_store)"
            )
        return closed_error(self.location)


def _close_in_child() -> None:
    for store in list(_stores):
        store._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_in_child)
