"""The trace store conformance suite, shipped so a third-party backend can run it.

Every ``TraceStore`` backend must pass it. To test yours, subclass ``StoreFactory`` (open
your store; say what it can do with the capability flags) and bring the suite's test
classes into a test module with a ``store_factory`` fixture::

    # tests/test_my_store.py
    import pytest
    from reprolam.testing import *  # noqa: F403  (the suite's test classes and fixtures)
    from reprolam.testing import StoreFactory

    class MyFactory(StoreFactory):
        name = "mine"
        durable = True          # a reopened store (or another process) sees what was stored

        def __call__(self): return MyStore(...)
        @property
        def location(self): return "my://..."          # for open_store in another process
        def tamper_artifact(self, store, digest, data): ...  # overwrite bytes behind its back

    @pytest.fixture
    def store_factory(tmp_path): return MyFactory(...)

Capabilities a backend lacks are skipped with the reason, never failed: ``durable``
(persistence across reopen and processes) and ``break_artifact_write`` (a write that can
be made to fail, to check that nothing half-written is left). Needs pytest.
"""

from reprolam.testing.annotations import TestAnnotations, TestMetricIndex, TestQueryRuns
from reprolam.testing.conformance import (
    StoreFactory,
    TestArtifacts,
    TestAtomicity,
    TestExtendRun,
    TestForks,
    TestLifecycle,
    TestReproductions,
    TestRuns,
    TestSteps,
    TestValues,
    artifact,
    chain,
    make_run,
    make_step,
    store,
)
from reprolam.testing.snapshots import TestSnapshots
from reprolam.testing.step_cache import TestStepCache
from reprolam.testing.stored_rows import TestStoredRows

__all__ = [
    "StoreFactory",
    "TestAnnotations",
    "TestArtifacts",
    "TestAtomicity",
    "TestExtendRun",
    "TestForks",
    "TestLifecycle",
    "TestMetricIndex",
    "TestQueryRuns",
    "TestReproductions",
    "TestRuns",
    "TestSnapshots",
    "TestStepCache",
    "TestSteps",
    "TestStoredRows",
    "TestValues",
    "artifact",
    "chain",
    "make_run",
    "make_step",
    "store",
]
