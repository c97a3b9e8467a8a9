"""The experiment's files: ``results.md`` (the table), ``results.csv``, ``results.json``."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from reprolam.experiments.harness import Experiment, describe_faults
from reprolam.experiments.metrics import FIELDS
from reprolam.experiments.pipelines import LABELS, PARADIGMS

Summary = Mapping[str, Any]

DEFINITIONS = {
    "task_success": "trials that end with an evaluated model (the workflow's model and metrics)",
    "reproducibility": "trials with outputs whose final model and metrics bytes (BLAKE3 of "
    "their canonical encoding) are obtained bitwise identical again by the paradigm's own "
    "means: a rerun with the same seed (script, naive LAM); replay of the stored trace with "
    "zero action calls (R-LAM)",
    "reproducibility_reexecution": "the same, by re-execution: rerun (script, naive LAM), "
    "`reproduce` (R-LAM: decisions from the trace, every step's output bytes compared)",
    "reproducibility_seeded_planner": "naive LAM only: its rerun if the planner's sampling "
    "seed could be fixed (an LLM API does not guarantee that)",
    "replay_calls": "executions of the action functions during R-LAM's replay, counted by the "
    "functions' wrappers and by a watcher of their code",
    "trace_completeness": "attempted action executions (ground truth: the functions' own "
    f"counters) whose record holds all of {', '.join(FIELDS)} with their true values, "
    "over all attempted executions",
    "fields_per_action": f"mean number of those {len(FIELDS)} fields recorded per attempted "
    "execution",
    "failure_visibility": "injected failures (ground truth: the injector's count) with a "
    "structured record: action, error type and message as fields, over injected failures",
    "failures_mentioned": "injected failures whose action, error type and message appear on "
    "one line of text the paradigm leaves (log, traceback, trace), over injected failures",
    "distinct_sequences": "distinct sequences of attempted actions across the trials",
    "distinct_hyperparameters": "distinct sets of params the actions were last called with",
    "fork_cost": "action calls made to change train_model.C after a finished trial (R-LAM: "
    "fork at train_model; the others: everything again), next to the distinct actions the "
    "trial completed",
    "time": "wall time of the measured run per trial; ratio of means to the script's",
    "replay_ratio": "mean replay time over mean run time (R-LAM)",
}


def _ratio(value: Mapping[str, Any]) -> str:
    if value["value"] is None:
        return "n/a (0/0)"
    return f"{value['value']:.2f} ({value['num']}/{value['den']})"


def _rlam_only(key: str, fmt: Callable[[Any], str]) -> Callable[[str, Summary], str]:
    def cell(paradigm: str, s: Summary) -> str:
        return fmt(s[key]) if paradigm == "r-lam" and s[key] is not None else "—"

    return cell


def _fork(paradigm: str, s: Summary) -> str:
    if s["fork_calls"] is None:
        return "n/a"
    return fork_cost(s["fork_calls"], s["fork_base"])


def fork_cost(calls: float, base: float) -> str:
    """``5 calls (trial: 4 actions)``: calls count retries and re-planned steps, so they may
    exceed the trial's distinct actions (an "of" read as a fraction said "5.0 of 4.0");
    means over trials keep one decimal, whole ones none."""
    return f"{_count(calls)} calls (trial: {_count(base)} actions)"


def _count(mean: float) -> str:
    return f"{mean:.0f}" if float(mean).is_integer() else f"{mean:.1f}"


def _time(paradigm: str, s: Summary) -> str:
    if s["seconds_mean"] is None:
        return "n/a"
    return f"{s['seconds_mean'] * 1000:.0f} / {s['seconds_median'] * 1000:.0f} ms"


ROWS: list[tuple[str, Callable[[str, Summary], str]]] = [
    ("task success", lambda p, s: _ratio(s["task_success"])),
    (
        "reproducibility, own means (rerun; R-LAM: replay, nothing executed)",
        lambda p, s: _ratio(s["reproducibility"]),
    ),
    (
        "reproducibility by re-execution (rerun; R-LAM: `reproduce`)",
        lambda p, s: _ratio(s["reproducibility_reexecution"]),
    ),
    ("action calls during replay", _rlam_only("replay_calls", str)),
    (
        f"trace completeness (executions recorded with all {len(FIELDS)} fields)",
        lambda p, s: _ratio(s["trace_completeness"]),
    ),
    (
        f"metadata fields recorded per execution (of {len(FIELDS)})",
        lambda p, s: f"{s['fields_per_action']:.1f}",
    ),
    (
        "failure visibility (injected failures with a structured record)",
        lambda p, s: _ratio(s["failure_visibility"]),
    ),
    (
        "injected failures mentioned in text (log, traceback)",
        lambda p, s: _ratio(s["failures_mentioned"]),
    ),
    ("distinct action sequences", lambda p, s: f"{s['distinct_sequences']} of {s['trials']}"),
    (
        "distinct hyperparameter sets",
        lambda p, s: f"{s['distinct_hyperparameters']} of {s['trials']}",
    ),
    ("fork cost: action calls to change train_model.C", _fork),
    ("wall time per trial (mean / median)", _time),
    (
        "wall time per attempted action (total / attempts)",
        lambda p, s: (
            "n/a"
            if s["seconds_per_attempt"] is None
            else f"{s['seconds_per_attempt'] * 1000:.1f} ms"
        ),
    ),
    (
        "time ratio to script (means)",
        lambda p, s: "n/a" if s["time_ratio"] is None else f"{s['time_ratio']:.2f}×",
    ),
    ("replay time / run time", _rlam_only("replay_ratio", lambda v: f"{v:.3f}")),
]


def table(experiment: Experiment) -> str:
    """The results table: one row per metric, one column per paradigm."""
    header = ["metric", *(LABELS[p] for p in PARADIGMS)]
    lines = [
        "| " + " | ".join(header) + " |",
        "| --- |" + " ---: |" * len(PARADIGMS),
    ]
    for label, cell in ROWS:
        cells = [cell(p, experiment.summary[p]) for p in PARADIGMS]
        lines.append("| " + " | ".join([label, *cells]) + " |")
    return "\n".join(lines)


def markdown(experiment: Experiment) -> str:
    config, env, summary = experiment.config, experiment.environment, experiment.summary
    first, last = config.seed, config.seed + config.trials - 1
    when = dt.datetime.fromtimestamp(experiment.started_at, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = env.get("load_average")
    load_text = f", load average {load[0]:.1f} at the end" if load else ""
    injected = ", ".join(f"{LABELS[p]} {summary[p]['injected']}" for p in PARADIGMS)
    naive = summary["naive-lam"]
    notes = [
        f"Injected failures (the injector's own count, measured runs): {injected}.",
    ]
    if naive["reproducibility_seeded_planner"]["den"]:
        notes.append(
            "Naive LAM rerun with the planner's sampling seed fixed (not something an LLM API "
            f"guarantees): {_ratio(naive['reproducibility_seeded_planner'])}."
        )
    audits = [t.audit for t in experiment.by_paradigm("r-lam") if t.audit]
    if audits:
        clean = sum(bool(a["clean"]) for a in audits)
        mean = sum(a["fields_per_action_mean"] for a in audits) / len(audits)
        notes.append(
            f"`reprolam audit` of the R-LAM runs: {clean}/{len(audits)} clean, "
            f"{mean:.1f} recorded metadata fields per executed step on average."
        )
    notes.append(f"R-LAM's runs are in `{experiment.store}`.")
    return "\n".join(
        [
            "# Script vs Naive LAM vs R-LAM",
            "",
            f"`{experiment.command}`",
            "",
            f"{config.trials} trials per paradigm (seeds {first}..{last}), planner: "
            f"{experiment.planner['reason']}, injected faults: {describe_faults(config.faults)}. "
            f"{when}, {env['cpus']} CPUs{load_text}, Python {env['python']}, "
            f"scikit-learn {env['scikit-learn']}; the whole experiment took "
            f"{experiment.seconds:.0f} s.",
            "",
            table(experiment),
            "",
            *(f"* {note}" for note in notes),
            "",
        ]
    )


CSV_COLUMNS = (
    "trials",
    "task_success",
    "reproducibility",
    "reproducibility_reexecution",
    "reproducibility_seeded_planner",
    "replay_calls",
    "trace_completeness",
    "fields_per_action",
    "failure_visibility",
    "failures_mentioned",
    "attempts",
    "injected",
    "distinct_sequences",
    "distinct_hyperparameters",
    "fork_calls",
    "fork_base",
    "seconds_mean",
    "seconds_median",
    "seconds_per_attempt",
    "time_ratio",
    "replay_ratio",
)


def csv_rows(experiment: Experiment) -> list[dict[str, Any]]:
    rows = []
    for paradigm in PARADIGMS:
        row: dict[str, Any] = {"paradigm": paradigm}
        for key in CSV_COLUMNS:
            value = experiment.summary[paradigm][key]
            row[key] = value["value"] if isinstance(value, Mapping) else value
        rows.append(row)
    return rows


def to_json(experiment: Experiment) -> dict[str, Any]:
    return {
        "command": experiment.command,
        "argv": experiment.argv,
        "started_at": experiment.started_at,
        "seconds": experiment.seconds,
        "config": experiment.config.to_dict(),
        "planner": experiment.planner,
        "environment": experiment.environment,
        "store": experiment.store,
        "injections": experiment.injections,
        "definitions": DEFINITIONS,
        "fields": list(FIELDS),
        "summary": experiment.summary,
        "trials": [asdict(t) for t in experiment.trials],
    }


def write_tables(experiment: Experiment, out: Path) -> list[Path]:
    """Write results.md, results.csv and results.json into ``out``; returns their paths."""
    md, csv_path, json_path = out / "results.md", out / "results.csv", out / "results.json"
    md.write_text(markdown(experiment), encoding="utf-8")
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["paradigm", *CSV_COLUMNS])
        writer.writeheader()
        for row in csv_rows(experiment):
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    json_path.write_text(
        json.dumps(to_json(experiment), indent=2, sort_keys=True, default=str) + "\n",
        encoding="utf-8",
    )
    return [md, csv_path, json_path]


def write_results(experiment: Experiment, out: Path) -> list[Path]:
    """Write the tables and the plots into ``out``; returns the paths written."""
    from reprolam.experiments.plots import write_plots

    return [*write_tables(experiment, out), *write_plots(experiment, out)]
