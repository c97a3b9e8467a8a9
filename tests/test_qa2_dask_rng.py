"""On Dask, an action that runs a while is not charged with the worker's own random draws.

``dask.sizeof``, tornado's jittered callbacks and distributed draw from the global
``random`` in the worker's other threads while an action runs; every action of a second or
more was recorded with "undeclared global_rng: the global random module state" (and audit
listed it). The worker's machinery now draws from a private instance; an action that does
use the global RNG is still seen.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import reprolam
from reprolam import action, workflow

pytest.importorskip("distributed")
from reprolam.engine.dask_executor import DaskExecutor

pytestmark = pytest.mark.slow


@action(outputs=["waited"])
def waits(*, seconds: float = 2.5) -> float:
    time.sleep(seconds)
    return seconds


@action(outputs=["drawn"])
def draws(waited: float) -> float:
    return random.random() * 0 + waited  # pure, yet it moves the global random state


flow = workflow("dask-rng", [waits, draws], outputs=["drawn"])


@pytest.fixture(scope="module")
def cluster() -> Iterator[DaskExecutor]:
    executor = DaskExecutor(workers=1)
    executor.start()
    yield executor
    executor.close()


def test_only_the_action_that_draws_is_charged(cluster: DaskExecutor, tmp_path: Path) -> None:
    with reprolam.open(tmp_path / "store") as rl:
        result = rl.run(flow, planner="script", executor=cluster)
        assert result.succeeded
        effects = {
            s.action: [e["kind"] for e in s.proposal.get("observed", {}).get("effects", [])]
            for s in result.steps
        }
        assert effects == {"waits": [], "draws": ["global_rng"]}
