"""Starting a LocalCluster never warns that the dashboard's default port is taken."""

from __future__ import annotations

import socket
import warnings

import pytest

pytest.importorskip("distributed")

from reprolam.engine.dask_executor import DaskExecutor


@pytest.mark.slow
def test_a_taken_port_8787_is_no_warning() -> None:
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 8787))  # taken by us now, if nobody else holds it already
        holder.listen()
    except OSError:
        pass  # someone else holds it: the same situation
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            executor = DaskExecutor(workers=1)
            executor.start()
            executor.close()
        assert not [w for w in caught if "8787" in str(w.message)]
    finally:
        holder.close()
