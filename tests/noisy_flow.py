"""A one-action workflow whose output differs on every execution (for divergence tests)."""

import os

from reprolam import action, workflow


@action(outputs=["value"], determinism="nondeterministic")
def measure() -> float:
    return 1.0 + int.from_bytes(os.urandom(4), "big") * 1e-18


flow = workflow("noisy", [measure], outputs=["value"])
