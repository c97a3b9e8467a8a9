"""Actions watched in several threads at once (sweeps with jobs on the local executor):
each step keeps what its own thread printed and warned, and the process's streams and
warning hooks are exactly what they were once the last watch stops."""

from __future__ import annotations

import sys
import threading
import warnings
from pathlib import Path

import reprolam
from reprolam.engine.observe import ActionWatch

FLOW = f"{Path(__file__).with_name('sweep_flow.py')}:flow"


def _watched(name: str, started: threading.Event, release: threading.Event, out: dict) -> None:
    watch = ActionWatch(determinism="seeded").start()
    print(f"from {name}")
    warnings.warn(f"careful, {name}", UserWarning, stacklevel=1)
    started.set()
    release.wait(10)
    print(f"{name} again")
    out[name] = watch.stop()


def test_watches_in_threads_stopping_out_of_order_keep_their_own_output() -> None:
    before = (sys.stdout, sys.stderr, warnings.showwarning)
    results: dict[str, dict] = {}
    a_started, b_started = threading.Event(), threading.Event()
    release_a, release_b = threading.Event(), threading.Event()
    a = threading.Thread(target=_watched, args=("a", a_started, release_a, results))
    b = threading.Thread(target=_watched, args=("b", b_started, release_b, results))
    a.start()
    a_started.wait(10)
    b.start()
    b_started.wait(10)
    release_a.set()  # a started first and stops first: the opposite of a stack
    a.join(10)
    assert (sys.stdout, sys.stderr) != before[:2]  # b is still watched
    release_b.set()
    b.join(10)
    assert (sys.stdout, sys.stderr, warnings.showwarning) == before
    assert results["a"]["stdout"] == "from a\na again\n"
    assert results["b"]["stdout"] == "from b\nb again\n"
    assert [w["message"] for w in results["a"]["warnings"]] == ["careful, a"]
    assert [w["message"] for w in results["b"]["warnings"]] == ["careful, b"]


def test_a_thread_an_action_starts_prints_into_that_actions_step() -> None:
    watch = ActionWatch(determinism="seeded").start()
    worker = threading.Thread(target=print, args=("from a helper thread",))
    worker.start()
    worker.join(10)
    observed = watch.stop()
    assert observed is not None
    assert observed["stdout"] == "from a helper thread\n"


def test_a_parallel_local_sweep_leaves_the_process_streams_as_they_were(tmp_path: Path) -> None:
    store = tmp_path / "store"
    parent = reprolam.run(FLOW, store=store, seed=3)
    before = sys.stdout, sys.stderr
    with reprolam.open(store) as rl:
        result = rl.sweep(
            parent.id, at="fit", grid={"fit.C": [1.0, 2.0, 3.0, 4.0], "fit.delay": [0.2]}, jobs=4
        )
    after = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = before  # whatever happened, the rest of the session prints
    assert result.succeeded
    assert after == before


def test_what_a_sweep_thread_prints_between_its_steps_is_not_another_points_output(
    tmp_path: Path, capsys: object
) -> None:
    """`reprolam sweep --jobs 2` printed a point's progress line while the other point's
    action ran: the line went into that action's recorded stdout, not to the terminal."""
    store = tmp_path / "store"
    parent = reprolam.run(FLOW, store=store, seed=3)
    with reprolam.open(store) as rl:
        result = rl.sweep(
            parent.id,
            at="fit",
            grid={"fit.C": [1.0], "fit.delay": [0.3, 1.5]},  # point 0 ends inside 1's fit
            jobs=2,
            on_point=lambda point: print(f"progress of point {point.number}"),
        )
        assert result.succeeded
        captured = [rl.show(p.run.id).captured for p in result.points if p.run is not None]
    printed = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "progress of point 0" in printed
    assert "progress of point 1" in printed
    assert "progress" not in repr(captured)


def test_a_thread_outliving_its_action_prints_into_no_later_step() -> None:
    # the thread step 0 started printed while step 1 ran: recorded as step 1's output
    first_done, printed = threading.Event(), threading.Event()

    def late() -> None:
        first_done.wait(10)
        print("late, from the first action's thread")
        printed.set()

    first = ActionWatch(determinism="pure").start()
    threading.Thread(target=late, daemon=True).start()
    assert first.stop() is None
    second = ActionWatch(determinism="pure").start()
    first_done.set()
    printed.wait(10)
    print("the second action's own")
    assert second.stop() == {"stdout": "the second action's own\n"}
