"""PostgreSQL run liveness: session-level advisory locks, one per running run.

The process executing a run holds ``pg_advisory_lock(lease_key(run_id))`` on its store's
connection; the server releases it when that session ends, however the process ends
(SIGKILL, a crash, a lost machine once TCP keepalive gives up, a server restart). Any
process opening the store, on any machine, marks the ``running`` runs whose lock it can
take as ``interrupted``: resumable. The single-bigint key space is separate from the
two-int keys the migrations lock with.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from reprolam.hashing import digest
from reprolam.trace.leases import abandoned_prefix, interrupted_reason

_INSUFFICIENT_PRIVILEGE = "42501"


def lease_key(run_id: str) -> int:
    """The advisory lock key of a run: 64 bits of a hash of its id (signed, as bigint)."""
    value = int(digest(f"reprolam-lease:{run_id}".encode())[:16], 16)
    return value - (1 << 64) if value >= 1 << 63 else value


def try_lock(conn: Any, key: int) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
    return bool(row and row[0])


def still_ours(conn: Any, run_id: str) -> bool:
    """Whether the run is still this process's to record: not created yet, or recorded as run
    by this process (a resume records its own pid and host) and not finished."""
    row = conn.execute("SELECT pid, host, status FROM runs WHERE id = %s", (run_id,)).fetchone()
    if row is None:
        return True
    pid, host, status = row
    mine = pid == os.getpid() and host == socket.gethostname()
    return mine and status in ("running", "interrupted")


def unmark_abandoned(conn: Any, run_id: str) -> None:
    """A run this process records again (its lease retaken after a reconnect) is ``running``
    once more: another opener, finding the lease gone while this process was cut off, marked
    it ``interrupted`` as if its process had died. Only that mark is undone."""
    mark = abandoned_prefix(os.getpid(), socket.gethostname())
    conn.execute(
        "UPDATE runs SET status = 'running', error = NULL "
        "WHERE id = %s AND status = 'interrupted' AND left(error, length(%s)) = %s",
        (run_id, mark, mark),
    )


def mark_abandoned_runs(conn: Any) -> None:
    """Runs still ``running`` whose lease nobody holds become ``interrupted`` (``abandoned``).

    Call on a connection that holds no leases itself (advisory locks are re-entrant per
    session). A user who may only read (SELECT on the tables) leaves them for the next
    writer to mark.
    """
    # pid 0: a run created through the store contract directly, not by an engine (which
    # records its pid and leases the run): nobody ever held a lease to lose.
    for run_id, pid, host, verifies in conn.execute(
        "SELECT id, pid, host, verifies FROM runs WHERE status = 'running' AND pid <> 0"
    ).fetchall():
        abandoned(conn, run_id, pid, host, verifies)


def abandoned(
    conn: Any, run_id: str, pid: int, host: str, verifies: str | None = None
) -> str | None:
    """Why a run recorded as ``running`` is not (its process ended: nobody holds its lease),
    or None while its process holds it. The run is marked ``interrupted`` with that reason,
    unless this user may only read; call on a connection that does not hold its lease.

    Marked with the lease taken and only if still running, so a run that finished (and let
    go of its lease) between the read and the lock is left alone.
    """
    key = lease_key(run_id)
    if not try_lock(conn, key):
        return None  # its process is alive
    reason = interrupted_reason(pid, host, verifies)
    try:
        conn.execute(
            "UPDATE runs SET status = 'interrupted', error = %s "
            "WHERE id = %s AND status = 'running'",
            (reason, run_id),
        )
    except Exception as exc:
        if getattr(exc, "sqlstate", None) != _INSUFFICIENT_PRIVILEGE:
            raise
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
    return reason
