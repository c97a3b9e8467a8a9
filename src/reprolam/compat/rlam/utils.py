"""rlam's ``compute_environment_hash``, answered by reprolam's environment snapshot."""

from __future__ import annotations

from reprolam.engine.environment import compute_environment_hash

__all__ = ["compute_environment_hash"]
