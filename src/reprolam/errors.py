"""One root exception, a shallow tree; messages say what happened, the value, and the fix.

Errors carry their parts as data: ``what`` happened, the ``option`` and ``value`` involved,
and a ``hint`` (the fix). Options are written in messages as ``{name}`` or
``{name=value}`` markup with the Python parameter name, so the same error reads right from
Python (``str(exc)``: ``workflow='pkg.mod:flow'``) and from the command line, where only
the CLI turns the markup into flags (``--workflow pkg.mod:flow``). No library message names
a CLI flag.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from types import FrameType
from typing import Any

# {name} or {name=value}; a value may hold anything but a closing brace
OPTION_MARKUP = re.compile(r"\{([a-z_][a-z0-9_]*)(?:=([^}]*))?\}")

OptionStyle = Callable[[str, str | None], str]


def python_style(name: str, value: str | None) -> str:
    """``{trusted=True}`` -> ``trusted=True``; ``{workflow=M:A}`` -> ``workflow='M:A'``."""
    if value is None:
        return name
    literal = value if _is_python_literal(value) else repr(value)
    return f"{name}={literal}"


def render_markup(text: str, style: OptionStyle = python_style) -> str:
    """Text with every ``{option}`` markup rendered in ``style``."""
    return OPTION_MARKUP.sub(lambda m: style(m[1], m[2]), text)


def _is_python_literal(value: str) -> bool:
    """True, 0.5, or a placeholder such as PATH or N (left unquoted, as in docs)."""
    if value in ("True", "False", "None") or value.isupper():
        return True
    try:
        float(value)
    except ValueError:
        return False
    return True


class ReprolamError(Exception):
    """Root of every error reprolam raises on purpose.

    ``what`` says what happened (with the offending value); ``hint`` says how to fix it;
    ``option`` names the parameter at fault (Python name) and ``value`` its value, when
    one is. Both texts may hold ``{option}`` markup (see the module docstring).
    """

    def __init__(
        self,
        what: str,
        *,
        option: str | None = None,
        value: Any = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(what)
        self.what = what
        self.option = option
        self.value = value
        self.hint = hint

    def render(self, style: OptionStyle = python_style) -> str:
        text = render_markup(self.what, style)
        return f"{text}: {render_markup(self.hint, style)}" if self.hint else text

    def __str__(self) -> str:
        return self.render()


class ActionSpecError(ReprolamError):
    """An action is declared wrongly (raised at decoration time)."""


class WorkflowError(ReprolamError):
    """A workflow is unknown, or cannot be loaded, or is declared wrongly."""


class ConfigError(ReprolamError):
    """A user-supplied option (override, seed, planner setting) is invalid."""


class NotFoundError(ReprolamError):
    """A run, step or artifact does not exist in the store."""


class AmbiguousIdError(ReprolamError):
    """A run id prefix matches more than one run."""


class StoreError(ReprolamError):
    """The store cannot be opened, written or read (permissions, corruption, version)."""


class IntegrityError(StoreError):
    """Stored bytes or records no longer match their recorded hashes."""


class LeaseLostError(StoreError):
    """Another process took over a run this one was recording (cut off from the store)."""


class CodecError(ReprolamError):
    """A value cannot be encoded canonically, or bytes cannot be decoded safely."""


class PolicyViolation(ReprolamError):
    """A proposal broke the run's policy; carries the reason given back to the planner."""

    def __init__(self, reason: str, *, check: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.check = check


class ReprolamWarning(UserWarning):
    """Root of reprolam's warnings: what was asked ran, but may not do what was meant.

    ``what`` may hold ``{option}`` markup, like an error's: ``str()`` renders it as Python
    names it, the CLI prints ``warning: ...`` with flags.
    """

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what

    def __str__(self) -> str:
        return render_markup(self.what)


class OverrideNotApplied(ReprolamWarning):
    """A fork's override named an action that never ran in the fork: it changed nothing."""


def warn(warning: ReprolamWarning) -> None:
    """Issue ``warning`` attributed to the caller's code (the first frame outside reprolam)."""
    import sys
    import warnings

    package = __name__.rpartition(".")[0] + "."
    level = 2  # the function that called warn()
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and str(frame.f_globals.get("__name__", "")).startswith(package):
        level, frame = level + 1, frame.f_back
    warnings.warn(warning, stacklevel=level)
