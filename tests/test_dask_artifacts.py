"""Values cross the Dask scheduler as content-addressed artifacts: large ones by digest
through the store's artifact directory (workers read and write the blobs, digests checked
on both sides), small ones inline as codec bytes with their digest; never pickles."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import reprolam
from reprolam.errors import IntegrityError
from reprolam.trace.blobs import INLINE_MAX, BlobDir

pytest.importorskip("distributed")

from reprolam.engine.dask_executor import DaskExecutor, receive, send

pytestmark = pytest.mark.slow

FLOW = f"{Path(__file__).with_name('sweep_flow.py')}:flow"
LARGE = 20_000  # make_data.n: its JSON output is well over INLINE_MAX


@pytest.fixture(scope="module")
def cluster() -> Iterator[DaskExecutor]:
    executor = DaskExecutor(workers=2)
    executor.start()
    yield executor
    executor.close()


class Recording:
    """A Dask future that keeps what the worker returned."""

    def __init__(self, future: Any, into: list[Any]) -> None:
        self.future = future
        self.into = into

    def result(self) -> Any:
        value = self.future.result()
        self.into.append(value)
        return value

    def release(self) -> None:
        self.future.release()


def test_large_values_cross_by_digest_through_the_artifact_directory(
    cluster: DaskExecutor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[Any] = []
    returned: list[Any] = []
    submit = cluster.client.submit

    def spy(fn: Any, ref: Any, inputs: Any, artifacts: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append((inputs, artifacts))
        return Recording(submit(fn, ref, inputs, artifacts, *args, **kwargs), returned)

    monkeypatch.setattr(cluster.client, "submit", spy)
    with reprolam.open(tmp_path / "store") as rl:
        on_dask = rl.run(FLOW, seed=1, set={"make_data.n": LARGE}, executor=cluster)
        here = rl.run(FLOW, seed=1, set={"make_data.n": LARGE})
        assert on_dask.succeeded
        assert [s.outputs for s in on_dask.steps] == [s.outputs for s in here.steps]
        assert rl.audit(on_dask.id).clean
        blobs = rl.store.blobs  # type: ignore[attr-defined]
        data_key = on_dask.steps[0].outputs["data"]
        assert blobs.exists(data_key)  # the large output lives in the directory
    # make_data's output went back by digest; fit's large input went out by digest
    first = returned[0]
    ((name, _tag, key, inline),) = first[1]
    assert (name, key, inline) == ("data", data_key, None)
    inputs, artifacts = sent[1]
    assert artifacts == str(blobs.path)
    ((_tag, key, inline),) = inputs
    assert (key, inline) == (data_key, None)
    # fit's small output came back inline, with its digest
    ((name, _tag, key, inline),) = returned[1][1]
    assert name == "fit"
    assert inline is not None
    assert len(inline) <= INLINE_MAX


def test_digests_are_checked_when_values_arrive(tmp_path: Path) -> None:
    blobs = BlobDir(tmp_path / "blobs")
    big = b"x" * (INLINE_MAX + 1)
    _tag, key, inline = send(blobs, "bytes", big)
    assert inline is None
    assert receive(blobs, key, None) == big
    small = send(blobs, "json", b"[1]")
    assert small[2] == b"[1]"
    assert send(None, "bytes", big)[2] == big  # no directory (memory store): inline
    with pytest.raises(IntegrityError, match="other bytes"):
        receive(blobs, small[1], b"[2]")
    path = blobs.path_of(key)
    path.chmod(0o644)
    path.write_bytes(b"y" * len(big))  # damaged in the shared directory
    with pytest.raises(IntegrityError, match="damaged"):
        receive(blobs, key, None)
