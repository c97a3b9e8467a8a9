"""rlam's ``Action``: the immutable record of one action a LAM proposes (unchanged from 0.1.0)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Action(BaseModel):
    """Immutable representation of a single executable action.

    ``action_id`` becomes the step's label in the store, ``action_type`` its action name,
    ``inputs`` its input artifacts and ``parameters`` its params.
    """

    model_config = ConfigDict(frozen=True)

    action_id: str
    action_type: str
    inputs: dict[str, Any]
    parameters: dict[str, Any]
    environment_hash: str
    timestamp: datetime = Field(default_factory=lambda: datetime.now(UTC))
