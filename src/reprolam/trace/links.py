"""What a hand-built step says about itself: its label, its control edges, its external inputs.

Steps recorded by ``ManualRun`` (and the ``rlam`` compatibility layer on it) keep these in
the step's ``proposal``, a JSON field every store already holds and the step hash already
covers: editing a label or an edge in the store breaks the hash chain like any other edit.
Read them through these accessors, never by key, so the layout can change in one place.

* ``label``: a user-chosen name for the step, unique in its trace (rlam's ``action_id``,
  e.g. ``A1`` or ``A3_prime``);
* ``after``: indexes of earlier steps this one depends on by control, whatever data it
  read (rlam's ``parents``);
* ``external``: names of inputs that entered the trace from outside (a value no earlier
  step produced), declared when the step was recorded.
"""

from __future__ import annotations

from reprolam.trace.records import StepRecord

LABEL_KEY = "label"
AFTER_KEY = "after"
EXTERNAL_KEY = "external"


def step_label(step: StepRecord) -> str | None:
    """The step's user-chosen label, if it was given one."""
    label = step.proposal.get(LABEL_KEY)
    return label if isinstance(label, str) else None


def step_after(step: StepRecord) -> tuple[int, ...]:
    """Indexes of the earlier steps this one follows by an explicit control edge."""
    after = step.proposal.get(AFTER_KEY)
    if not isinstance(after, list):
        return ()
    return tuple(i for i in after if isinstance(i, int) and not isinstance(i, bool))


def step_external(step: StepRecord) -> tuple[str, ...]:
    """Names of the step's inputs declared external when it was recorded."""
    names = step.proposal.get(EXTERNAL_KEY)
    if not isinstance(names, list):
        return ()
    return tuple(n for n in names if isinstance(n, str) and n in step.inputs)
