"""One root exception, a shallow tree; messages say what happened, the value, and the fix."""

from __future__ import annotations


class ReprolamError(Exception):
    """Root of every error reprolam raises on purpose."""


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


class CodecError(ReprolamError):
    """A value cannot be encoded canonically, or bytes cannot be decoded safely."""


class PolicyViolation(ReprolamError):
    """A proposal broke the run's policy; carries the reason given back to the planner."""

    def __init__(self, reason: str, *, check: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.check = check


class RunFailed(ReprolamError):
    """A run ended in the failed state (action failure or exhausted budget)."""
