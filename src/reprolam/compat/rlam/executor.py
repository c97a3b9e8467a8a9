"""rlam's ``execute_action`` and ``ExecutionResult``, executed by ``reprolam.execute``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, PrivateAttr

from reprolam.compat.rlam.action import Action
from reprolam.context import derive_seed
from reprolam.engine.single import Executed, execute


class ExecutionResult(BaseModel):
    """Result of executing a single action: its output, or the error that stopped it.

    A result returned by ``execute_action`` also carries what reprolam measured (code
    fingerprint, seed, timings, the exception's type and traceback) for the trace to record;
    it takes no part in equality, which compares the four fields as in rlam.
    """

    action: Action
    output: Any | None = None
    status: Literal["SUCCESS", "FAILED"]
    error: str | None = None
    _executed: tuple[Action, Executed] | None = PrivateAttr(default=None)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ExecutionResult):
            return NotImplemented
        return (self.action, self.output, self.status, self.error) == (
            other.action,
            other.output,
            other.status,
            other.error,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, like rlam's (not hashable)

    def executed(self) -> Executed | None:
        """What reprolam measured, if this result is still exactly what ``execute_action`` made."""
        if self._executed is None:
            return None
        action, done = self._executed
        same = (
            self.action is action
            and self.status == ("SUCCESS" if done.error is None else "FAILED")
            and self.error == (done.error.message if done.error else None)
            and self.output is done.outputs.get(action.action_id)
        )
        return done if same else None


def execute_action(action: Action, tool_fn: Callable[..., Any]) -> ExecutionResult:
    """Execute ``tool_fn(**action.inputs, **action.parameters)`` once, without retries.

    An exception becomes a ``FAILED`` result whose ``error`` is its message; nothing is
    raised and nothing is recorded until the result is added to an ``ExecutionTrace``.
    """
    if not callable(tool_fn):  # rlam's call raises TypeError, which it returns as a failure
        tool_fn = _calling(tool_fn)
    done = execute(
        tool_fn,
        inputs=action.inputs,
        params=action.parameters,
        action=action.action_type,
        seed=derive_seed(0, action.action_type, action.action_id),
        output=action.action_id,
        plain=True,  # rlam calls tool_fn(**inputs, **parameters), whatever it is
    )
    if done.error is None:
        output = done.outputs[action.action_id]
        result = ExecutionResult(action=action, output=output, status="SUCCESS", error=None)
    else:
        error = done.error.message
        result = ExecutionResult(action=action, output=None, status="FAILED", error=error)
    result._executed = (action, done)
    return result


def _calling(tool: object) -> Callable[..., Any]:
    """A function calling ``tool``, as rlam does, for a tool that is not callable (None from
    a registry lookup of an unknown action type): the call fails with Python's TypeError."""

    def call_tool(**arguments: Any) -> Any:
        return tool(**arguments)  # type: ignore[operator]  # raises TypeError: not callable

    return call_tool
