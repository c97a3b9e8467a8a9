"""The one door for randomness into an action: seeds and RNGs derived from the run seed."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from reprolam.hashing import digest

if TYPE_CHECKING:
    import numpy as np

SEED_BITS = 32  # fits every consumer (numpy, scikit-learn's random_state, random.seed)


def derive_seed(root: int, *labels: object) -> int:
    """A stable 32-bit seed from a root seed and labels; equal inputs give equal seeds anywhere."""
    text = "/".join([str(root), *map(str, labels)])
    return int(digest(text.encode())[: SEED_BITS // 4], 16)


class ActionContext:
    """What the engine hands an action: its step seed and RNGs built from it (lazily)."""

    __slots__ = ("_random", "_rng", "effects", "partial", "run_id", "seed", "step_index")

    def __init__(
        self, *, seed: int, run_id: str = "", step_index: int = -1, effects: str = "warn"
    ) -> None:
        self.seed = seed
        self.run_id = run_id
        self.step_index = step_index
        self.effects = effects  # the policy for undeclared effects: "warn" or "strict"
        self.partial: dict[str, Any] = {}  # outputs saved before a failure (see save_partial)
        self._rng: np.random.Generator | None = None
        self._random: random.Random | None = None

    @property
    def rng(self) -> np.random.Generator:
        """A numpy Generator seeded with the step seed."""
        if self._rng is None:
            import numpy as np

            self._rng = np.random.default_rng(self.seed)
        return self._rng

    @property
    def random(self) -> random.Random:
        """A stdlib Random seeded with the step seed."""
        if self._random is None:
            self._random = random.Random(self.seed)
        return self._random

    def save_partial(self, name: str, value: Any) -> None:
        """Keep ``value`` as a partial output: recorded with the step if the action then fails."""
        self.partial[name] = value

    def __repr__(self) -> str:
        return f"ActionContext(seed={self.seed}, run_id={self.run_id!r}, step={self.step_index})"
