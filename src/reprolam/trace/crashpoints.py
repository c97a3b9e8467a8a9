"""Deterministic kill points, for proving crash safety.

``REPROLAM_CRASH_AT=N`` kills the process with SIGKILL just before its Nth durable store
write (a blob file, a journal frame, a SQLite commit); ``N:after`` just after it. The
crash tests run a workflow once per N and check that the store opens, audits with only
the interruption, and resumes to the same outputs. Unset (always, outside those tests),
a kill point costs one comparison.
"""

from __future__ import annotations

import os
import signal

_spec = os.environ.get("REPROLAM_CRASH_AT", "")
_target, _, _phase = _spec.partition(":")
_TARGET = int(_target) if _target.isdigit() else 0
_AFTER = _phase == "after"
_writes = [0]  # durable writes so far in this process (only counted when a target is set)


def before_write() -> None:
    if _TARGET:
        _writes[0] += 1
        if _writes[0] == _TARGET and not _AFTER:
            os.kill(os.getpid(), signal.SIGKILL)


def after_write() -> None:
    if _TARGET and _writes[0] == _TARGET and _AFTER:
        os.kill(os.getpid(), signal.SIGKILL)


def armed() -> bool:
    """Whether kill points are being counted in this process."""
    return bool(_TARGET)
