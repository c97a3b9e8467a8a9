"""The paper's ``rlam`` 0.1.0 API on reprolam: same names, signatures, errors and invariants.

Change the import (``from rlam import ...`` -> ``from reprolam.compat.rlam import ...``;
``rlam.utils`` -> ``reprolam.compat.rlam.utils``, and so on for every submodule) and the
same code runs, with what reprolam adds underneath:

* every ``add_result`` records a real run step in a trace store: hash-chained, with its
  inputs and output stored as content-addressed artifacts, its code fingerprint, seed,
  timings and the full error of a failure, so ``reprolam show/replay/audit/export`` read it;
* ``ExecutionTrace()`` records into ``$REPROLAM_STORE`` when that is set, else into a fresh
  in-memory store (as rlam, nothing outlives the process); ``ExecutionTrace(store=PATH)``
  keeps it (a directory, ``memory:``, a ``postgresql://`` DSN, an open ``TraceStore`` or a
  ``reprolam.open`` client, whose ``trusted`` opt-in it honours),
  and ``ExecutionTrace.open(RUN, store=PATH)`` reads it back in another process;
* ``replay_action`` reads the recorded bytes, verifies them against their digest and
  decodes them: it never executes anything;
* ``fork_trace`` creates a fork run that inherits the original's steps by reference.

Differences, all deliberate: values are kept as they decode from their stored bytes (a
tuple output comes back as a list, as it does everywhere in reprolam); an input or output
that cannot be stored fails its step visibly; ``trace.graph`` is frozen (add actions with
``add_result``: a node added behind the trace's back would not be recorded).

Derived from rlam 0.1.0, Copyright (c) 2026 Suriya Sureshkumar, MIT License.
"""

from reprolam.compat.rlam.action import Action
from reprolam.compat.rlam.executor import ExecutionResult, execute_action
from reprolam.compat.rlam.fork import fork_trace
from reprolam.compat.rlam.replay import replay_action
from reprolam.compat.rlam.trace import ExecutionTrace

__version__ = "0.1.0"  # the rlam API this module implements
__all__ = [
    "Action",
    "ExecutionResult",
    "ExecutionTrace",
    "execute_action",
    "fork_trace",
    "replay_action",
]
