"""Fork, resume and replay, each next to its baseline measured in the same run.

* fork start on an N-step parent (setup + state ready, until the fork's first new step
  could start) and on an N/10-step parent (the start should not depend on the length);
* resume of an N-step interrupted run, until its next step could start;
* replay of an N-step run and of an N/10-step run, every hash verified: time, and the
  tracemalloc peak (memory should not depend on the length);
* ``rlam`` 0.1.0 ``fork_trace`` (copies the prefix) and ``replay_action`` (a dict lookup,
  nothing verified) over the same N steps, when rlam is installed;
* replay of the Breast Cancer run vs running it (warm process).

Interleaved rounds, medians; only public verbs (``Client.fork``, ``resume``, ``replay``).

    python benchmarks/bench_history.py            # N = 10,000
    python benchmarks/bench_history.py --quick    # N = 1,000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import reprolam
from _report import figure, ms
from _scenario import fork_start, record_chain, resume_start
from _timing import interleaved, median_time, timed
from bench_record import rlam_chain


def replay_peak(client: reprolam.Client, run_id: str) -> int:
    """Bytes at the tracemalloc peak while replaying ``run_id``."""
    tracemalloc.start()
    try:
        assert client.replay(run_id).verified
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main(argv: list[str] | None = None) -> dict[str, float | None]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    steps, repeats = (1000, 3) if args.quick else (args.steps, args.repeats)
    short = steps // 10
    figures: dict[str, float | None] = {}

    with tempfile.TemporaryDirectory() as tmp, reprolam.open(tmp) as client:
        long_run = record_chain(client, steps)
        short_run = record_chain(client, short)
        stopped = record_chain(client, steps, interrupt=True)

        def replayed(run_id: str) -> Callable[[int], float]:
            return lambda i: timed(lambda: client.replay(run_id))

        contenders: dict[str, Callable[[int], float]] = {
            "fork_long": lambda i: fork_start(client, long_run, steps - 1),
            "fork_short": lambda i: fork_start(client, short_run, short - 1),
            "resume": lambda i: resume_start(client, stopped),
            "replay_long": replayed(long_run),
            "replay_short": replayed(short_run),
        }
        runs = interleaved(contenders, repeats)
        peak_long = replay_peak(client, long_run)
        peak_short = replay_peak(client, short_run)
    for name in contenders:
        figures[name] = runs.median(name)

    try:
        trace = rlam_chain(steps)
        from rlam import fork_trace, replay_action

        figures["rlam_replay"] = median_time(
            lambda: [replay_action(trace, f"A{i}") for i in range(steps)], repeats
        )
        figures["rlam_fork"] = median_time(lambda: fork_trace(trace, f"A{steps - 2}"), repeats)
    except ImportError:
        figures["rlam_replay"] = figures["rlam_fork"] = None

    with tempfile.TemporaryDirectory() as tmp, reprolam.open(tmp) as client:
        client.run("breast-cancer")  # warm: imports, dataset cache
        bc_run = median_time(lambda: client.run("breast-cancer"), repeats)
        run_id = client.runs(limit=1)[0].id
        bc_replay = median_time(lambda: client.replay(run_id), repeats)

    print(f"fork, resume and replay: {steps:,}-step runs, {repeats} interleaved rounds, medians")
    fork_long, fork_short = runs.median("fork_long"), runs.median("fork_short")
    rlam_fork = figures["rlam_fork"]
    rlam_text = f"; `rlam` 0.1.0 `fork_trace` {ms(rlam_fork)} (prefix copy)" if rlam_fork else ""
    figure(
        f"fork start (setup + state ready) on a {steps:,}-step parent",
        f"{ms(fork_long)} ({runs.ratio('fork_long', 'fork_short'):.2f}x the {short:,}-step parent)",
        target="≤ 5 ms, independent of the parent's length",
        baseline=f"{short:,}-step parent {ms(fork_short)}{rlam_text}",
        met=fork_long <= 0.005 and runs.ratio("fork_long", "fork_short") <= 1.5,
        reproduce="python benchmarks/bench_history.py",
        issue21=True,
    )
    resume = runs.median("resume")
    figure(
        f"resume of a {steps:,}-step interrupted run, until the next step starts",
        ms(resume),
        target="≤ 5 ms",
        baseline=f"fork start on the same length {ms(fork_long)}",
        met=resume <= 0.005,
        reproduce="python benchmarks/bench_history.py",
        issue21=True,
    )
    replay_long, replay_short = runs.median("replay_long"), runs.median("replay_short")
    rlam_replay = figures["rlam_replay"]
    rlam_text = (
        f"; `rlam` 0.1.0 `replay_action` {ms(rlam_replay)} (nothing verified)"
        if rlam_replay
        else ""
    )
    figure(
        f"replay of a {steps:,}-step run, every hash verified",
        f"{ms(replay_long)}, peak {peak_long / 2**20:.1f} MiB "
        f"({peak_long / max(peak_short, 1):.1f}x the {short:,}-step run's)",
        target="≤ 150 ms, memory independent of run length",
        baseline=f"{short:,}-step run {ms(replay_short)}, peak {peak_short / 2**20:.1f} MiB"
        + rlam_text,
        met=replay_long <= 0.15 and peak_long <= 2 * peak_short,
        reproduce="python benchmarks/bench_history.py",
        issue21=True,
    )
    speedup = bc_run / bc_replay
    figure(
        "replay of the Breast Cancer run",
        f"{ms(bc_replay)}, {speedup:.0f}x faster than running it",
        target="≥ 20x",
        baseline=f"the run itself {ms(bc_run)}, same process",
        met=speedup >= 20,
        reproduce="python benchmarks/bench_history.py",
    )
    figures.update(peak_long=peak_long, peak_short=peak_short, bc_run=bc_run, bc_replay=bc_replay)
    return figures


if __name__ == "__main__":
    main()
