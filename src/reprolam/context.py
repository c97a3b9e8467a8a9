"""The one door for randomness (and scratch files) into an action: seeds, RNGs, a workdir."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reprolam.errors import ConfigError
from reprolam.hashing import digest, digest_bytes

if TYPE_CHECKING:
    import numpy as np

SEED_BITS = 32  # fits every consumer (numpy, scikit-learn's random_state, random.seed)


def check_seed(seed: object) -> None:
    """Refuse a run's or a step's seed that is not a whole number (``1.5`` was recorded as
    given, ``"1"`` failed in SQL), before anything runs or is written."""
    if type(seed) is not int:
        raise ConfigError(f"{{seed={seed!r}}}: a seed is a whole number, e.g. {{seed=0}}")


def derive_seed(root: int, *labels: object) -> int:
    """A stable 32-bit seed from a root seed and labels; equal inputs give equal seeds anywhere."""
    text = "/".join([str(root), *map(str, labels)])
    return int(digest(text.encode())[: SEED_BITS // 4], 16)


def seed_prefix(root: int, *labels: object) -> str:
    """What ``derive_seed(root, *labels, last)`` hashes before ``last``: computed once for
    many seeds that differ in their last label only (``seed_after``)."""
    return "/".join([str(root), *map(str, labels), ""])


def seed_after(prefix: str, last: object) -> int:
    """``derive_seed(root, *labels, last)`` for ``prefix = seed_prefix(root, *labels)``."""
    # The first SEED_BITS of the digest, read as bytes rather than parsed from its hex text
    # (the same number: BLAKE3's shorter outputs are prefixes of its longer ones).
    return int.from_bytes(digest_bytes((prefix + str(last)).encode(), SEED_BITS // 8), "big")


class ActionContext:
    """What the engine hands an action: its step seed, RNGs built from it and a workdir (lazily).

    ``workdir_root`` is where the engine wants scratch directories (next to the store, so
    output files move into it without a copy); the directory itself is made on first use.
    ``effects`` is the run's policy for undeclared effects: "warn" or "strict".
    """

    __slots__ = (
        "_random",
        "_rng",
        "_workdir",
        "effects",
        "partial",
        "run_id",
        "seed",
        "step_index",
        "workdir_root",
    )

    def __init__(
        self,
        *,
        seed: int,
        run_id: str = "",
        step_index: int = -1,
        workdir_root: str | None = None,
        effects: str = "warn",
    ) -> None:
        self.seed = seed
        self.run_id = run_id
        self.step_index = step_index
        self.workdir_root = workdir_root
        self.effects = effects  # the policy for undeclared effects: "warn" or "strict"
        self.partial: dict[str, Any] = {}  # outputs saved before a failure (see save_partial)
        self._rng: np.random.Generator | None = None
        self._random: random.Random | None = None
        self._workdir: Path | None = None

    @property
    def workdir(self) -> Path:
        """An empty scratch directory for this step: return a ``Path`` in it to output a file.

        A file or directory returned from here becomes a file artifact (stored, hashed,
        handed to later actions read-only); the directory is removed after the step.
        """
        if self._workdir is None:
            root = self.workdir_root
            if root is not None:
                Path(root).mkdir(parents=True, exist_ok=True)
            self._workdir = Path(tempfile.mkdtemp(prefix=f"step{self.step_index}-", dir=root))
        return self._workdir

    @property
    def used_workdir(self) -> Path | None:
        """The workdir if the action asked for one, else None."""
        return self._workdir

    def adopt_workdir(self, path: Path) -> None:
        """The workdir the action asked for in another process (a worker's context): this
        step's, so it is removed with the step as one made here would be."""
        self._workdir = path

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
