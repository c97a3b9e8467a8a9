"""Plain text for ``print`` and ``repr`` of records and results.

The result classes' ``__repr__`` (one line) and, where a trace is worth reading,
``__str__`` (a few lines) call these, so ``print(rl.show(run))`` or a list of
``rl.runs()`` in a REPL reads as run id, workflow, status and steps instead of a dump of
every field. Nothing else changes: attributes, ``to_dict`` and ``--json`` are as they were.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reprolam.hashing import canonical_json, short

if TYPE_CHECKING:
    from reprolam.trace.records import RunRecord, StepRecord

_WIDTH = 40  # a value longer than this is cut
# What acts on a terminal or a page instead of showing: C0/C1 controls (ANSI escapes) and the
# bidirectional overrides and isolates that reorder the text after them ("Trojan Source").
_ACTING = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def visible(text: str) -> str:
    """``text`` with every character that would act instead of show written out: ESC as
    ``\\x1b``, a right-to-left override as ``\\u202e`` (newlines and tabs stay)."""
    return _ACTING.sub(_written, text)


def _written(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def number_words(value: float) -> str:
    """A float as the CLI and ``repr`` show metrics: four decimals (0.9789, 12.5000), or
    four significant digits where decimals would hide it (1.2e-05, 3.457e+07, nan)."""
    if value == 0.0 or 1e-3 <= abs(value) < 1e6:
        return f"{value:.4f}"
    return f"{value:.4g}"


def same_as_recorded(reads_checked: int) -> str:
    """What a reused step was found to share with the step whose outputs it took."""
    same = "same action, code, params, inputs and seed"
    if reads_checked:
        what = "file or variable" if reads_checked == 1 else "files and variables"
        return f"{same}; the {reads_checked} {what} it read unchanged"
    return same


# why a cache hit of an ``external`` action's step is executed all the same
EXTERNAL_NOT_REUSED = (
    "its action is external (it acts outside the record), so it is executed again, never reused"
)


def value_words(value: Any) -> str:
    """A value as a short token: floats as ``number_words``, digests shortened."""
    if isinstance(value, float):
        return number_words(value)
    if isinstance(value, str):
        text = short(value) if len(value) == 64 else value
    else:
        try:
            text = canonical_json(value)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= _WIDTH else text[: _WIDTH - 3] + "..."


def metrics_words(metrics: Mapping[str, Any] | None) -> str:
    return " ".join(f"{name}={value_words(v)}" for name, v in (metrics or {}).items())


def problems_words(problems: Sequence[Any]) -> str:
    """``N problem(s), first: <message>`` for problems that carry a ``message``."""
    plural = "" if len(problems) == 1 else "s"
    return f"{len(problems)} problem{plural}, first: {problems[0].message}"


def run_words(run: RunRecord) -> str:
    """``<id> <workflow> seed=<n> <status>``, then how it relates to another run."""
    text = f"{run.id} {run.workflow} seed={run.seed} {run.status.value}"
    if run.parent_id is not None:
        text += f", fork of {run.parent_id} at step {run.fork_index}"
    if run.verifies is not None:
        text += f", reproduces {run.verifies}"
    if run.damaged is not None:
        text += ", record damaged"
    return text


def step_words(step: StepRecord) -> str:
    outputs = " ".join(f"{name}={short(d)}" for name, d in step.outputs.items())
    return f"{step.index:>3} {step.action:<20} {step.status.value:<9} {outputs}".rstrip()


def trace_text(
    run: RunRecord, steps: Sequence[StepRecord], metrics: Mapping[str, Any] | None
) -> str:
    """A run as a few lines: its header, one line per step, its headline metrics."""
    lines = [f"run {run_words(run)}, {len(steps)} steps"]
    for step in steps:
        inherited = run.fork_index is not None and step.index < run.fork_index
        lines.append(f"  {step_words(step)}" + ("  (inherited)" if inherited else ""))
    if metrics:
        lines.append(f"metrics: {metrics_words(metrics)}")
    return "\n".join(lines)
