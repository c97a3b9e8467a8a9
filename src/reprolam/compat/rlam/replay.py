"""rlam's ``replay_action``: a logged output, read back from the store; nothing executes."""

from __future__ import annotations

from typing import Any

from reprolam.compat.rlam.trace import ExecutionTrace


def replay_action(trace: ExecutionTrace, action_id: str) -> Any:
    """The logged output of ``action_id`` (None for a failed action), without re-execution.

    The value is decoded from the recorded bytes after they are verified against their
    digest. ``RuntimeError`` if the action is not in the trace (logged-only execution).
    """
    trace.require_action(action_id)
    return trace.recorded_output(action_id)
