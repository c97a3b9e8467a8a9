"""What steps observed while their actions ran: captured output and effects (engine.observe)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reprolam import env_reads, file_reads
from reprolam.errors import IntegrityError, NotFoundError
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import StepRecord
from reprolam.trace.stored_json import load_json


def observed_of(step: StepRecord) -> dict[str, Any]:
    """The step's recorded observation summary ({} when nothing was observed)."""
    observed = step.proposal.get("observed")
    return observed if isinstance(observed, dict) else {}


def effects_of(step: StepRecord) -> list[dict[str, Any]]:
    effects = observed_of(step).get("effects", [])
    return [e for e in effects if isinstance(e, dict)]


def captured_output(store: TraceStore, step: StepRecord) -> dict[str, Any] | None:
    """What the step's action printed and warned (stdout, stderr, warnings), or None.

    Output whose stored bytes no longer match their digest (edited, or lost) is never shown
    as if recorded: it reads ``{"damaged": why}``, and ``audit`` reports it.
    """
    key = observed_of(step).get("output")
    if not isinstance(key, str):
        return None
    try:
        return load_json(store, key)
    except (IntegrityError, NotFoundError) as exc:
        return {"damaged": str(exc)}


def captured_outputs(store: TraceStore, steps: Sequence[StepRecord]) -> dict[int, dict[str, Any]]:
    """Step index -> captured output, for the steps that have one."""
    found: dict[int, dict[str, Any]] = {}
    for step in steps:
        output = captured_output(store, step)
        if output:
            found[step.index] = output
    return found


def undeclared_effects(steps: Sequence[StepRecord]) -> list[tuple[StepRecord, dict[str, Any]]]:
    """Every undeclared effect of a trace, with the step that had it (for ``audit``)."""
    return [(s, e) for s in steps for e in effects_of(s) if not e.get("declared")]


def effect_findings(steps: Sequence[StepRecord]) -> list[dict[str, Any]]:
    """Undeclared effects as audit findings: step, action, and the effect."""
    return [{"step": s.index, "action": s.action, **e} for s, e in undeclared_effects(steps)]


def reads_of(step: StepRecord) -> list[dict[str, Any]]:
    """The files, directories and environment variables the step's action read itself
    (``file_read`` and ``env_read`` effects)."""
    return [e for e in effects_of(step) if e.get("kind") in ("file_read", "env_read")]


def describe_effect(effect: dict[str, Any], *, fix: bool = False) -> str:
    """``undeclared file read: /data/raw.csv (2x) [blake3 8b20e98947c6, 1.2 KiB]``; with
    ``fix``, an undeclared file read also says how to declare it."""
    count = effect.get("count", 1)
    times = f" ({count}x)" if count and count > 1 else ""
    declared = "declared" if effect.get("declared") else "undeclared"
    kind = str(effect.get("kind", "?")).replace("_", " ")
    text = f"{declared} {kind}: {effect.get('target')}{times}"
    if effect.get("kind") == "env_read":
        text += env_reads.describe_state(effect)
        return text + (f" ({env_reads.READ_FIX})" if fix and not effect.get("declared") else "")
    if effect.get("kind") == "file_write" and effect.get("output"):
        return text + (
            f" (returned as output {effect['output']!r}: its path is recorded, not its "
            "content; write the file into ctx.workdir to record it)"
        )
    if effect.get("kind") != "file_read":
        return text
    if effect.get("module"):
        text += f" (module {effect['module']}, imported by the action)"
    if isinstance(effect.get("declared_by"), str):
        text += f" (declared by {effect['declared_by']}, which names a directory holding it)"
    text += file_reads.describe_state(effect)
    if fix and not effect.get("declared") and not effect.get("unlisted"):
        text += f" ({file_reads.READ_FIX})"
    return text
