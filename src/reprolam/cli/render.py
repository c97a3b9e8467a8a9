"""Human-readable output for the CLI (rich tables and progress). JSON output never comes here."""

from __future__ import annotations

import datetime as dt
import os
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.errors import MarkupError
from rich.markup import escape
from rich.table import Table

from reprolam.brief import EXTERNAL_NOT_REUSED, number_words, same_as_recorded, visible
from reprolam.hashing import canonical_json, short
from reprolam.trace.records import RunRecord, RunStatus, StepRecord, StepStatus

if TYPE_CHECKING:
    from rich.console import ConsoleRenderable

    from reprolam.client import RunView
    from reprolam.history.code_diff import CodeChange, RankedEnvironment
    from reprolam.history.comparison import RunComparison
    from reprolam.history.diff import RunDiff
    from reprolam.history.replay import ReplayResult
    from reprolam.history.reproduce import ReproduceResult
    from reprolam.trace.queries import Annotation, RunRow
    from reprolam.workflows.registry import Workflow


class _Console(Console):
    """Rich's console, never stopped by text that reads as markup (``[/x]`` in an error, a
    model's reply): data is escaped where it is printed; if some slips through, the line
    is printed as it is rather than the command dying on a ``MarkupError``. Control
    characters in printed text are shown, not sent (``visible``)."""

    def print(self, *objects: Any, **options: Any) -> None:
        objects = tuple(visible(o) if isinstance(o, str) else o for o in objects)
        try:
            super().print(*objects, **options)
        except MarkupError:
            super().print(*objects, **{**options, "markup": False})


console = _Console(highlight=False)
err_console = _Console(stderr=True, highlight=False)

_STATUS_STYLE = {
    StepStatus.SUCCEEDED: "[green]✓[/]",
    StepStatus.FAILED: "[red]✗ failed[/]",
    StepStatus.REJECTED: "[yellow]⊘ rejected[/]",
    StepStatus.STARTED: "[magenta]… started[/]",
}
_RUN_STYLE = {
    RunStatus.SUCCEEDED: "green",
    RunStatus.FAILED: "red",
    RunStatus.RUNNING: "cyan",
    RunStatus.INTERRUPTED: "magenta",
}


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def _metrics(metrics: dict[str, Any] | None) -> str:
    if not metrics:
        return "-"
    return "  ".join(f"{k}={_brief(v)}" for k, v in metrics.items())


class RunProgress:
    """Prints each step as it is recorded, then the run id and final metrics.

    The header waits for the first step, so a run refused up front prints only its error.
    A reused step says so in its time column; with ``cache_notes`` (``run --reuse``, which
    prints no summary of the cache's advice afterwards, unlike ``fork``) each step the cache
    advised on also says where its outputs came from, or why it was executed again.
    """

    def __init__(
        self, *, enabled: bool, header: str | None = None, cache_notes: bool = False
    ) -> None:
        self.enabled = enabled
        self.header = header
        self.cache_notes = cache_notes

    def announce(self, header: str) -> None:
        """Set the header printed before the first step."""
        self.header = header

    def step(self, step: StepRecord) -> None:
        if not self.enabled:
            return
        if self.header is not None:
            err_console.print(self.header)
            self.header = None
        mark = _STATUS_STYLE[step.status]
        # by name, as `show` lists them: a reused step's come back from the store sorted
        outputs = " ".join(f"{n}={short(k)}" for n, k in sorted(step.outputs.items()))
        advice = step.proposal.get("cache")
        took = "reused" if step.reused else _ms(step.duration)
        line = f"  {mark} {step.index:>3} {escape(f'{step.action:<18}')} {took:>10}  {outputs}"
        if step.error:
            error = f"{step.error.type}: {recorded_error(step.error.message)}"
            line += f"\n        [red]{escape(error)}[/]"
        if advice and self.cache_notes:
            line += f"\n        [dim]{_cache_note(advice)}[/]"
        observed = step.proposal.get("observed") or {}
        refused = step.error is not None and step.error.type == "UndeclaredEffect"
        for effect in observed.get("effects", []):  # a refusal names them: said once
            if not effect.get("declared") and not refused:
                from reprolam.history.observed import describe_effect

                line += f"\n        [yellow]{escape(describe_effect(effect, fix=True))}[/]"
        err_console.print(line, highlight=False)

    def finish(self, run: RunRecord, n_steps: int, metrics: dict[str, Any] | None) -> None:
        style = _RUN_STYLE[run.status]
        console.print(f"run [bold]{run.id}[/] [{style}]{run.status.value}[/] ({n_steps} steps)")
        if run.error:
            console.print(f"reason: {escape(recorded_error(run.error))}")
        if metrics:
            console.print(f"metrics: {escape(_metrics(metrics))}")


def _headline_names(
    rows: Sequence[tuple[RunRow, dict[str, Any] | None]], shown: int, metric: str | None
) -> list[str]:
    """The named metric; else the first scalar metrics of the newest run that has any (its
    workflow declares which output holds them): the runs table's metric columns."""
    if metric:
        return [metric]
    for _, metrics in rows:
        names = [k for k, v in (metrics or {}).items() if isinstance(v, int | float | str)]
        if names:
            return names[:shown]
    return []


def _value(value: Any) -> str:
    return "-" if value is None else _brief(value)


NARROW_ID = 18  # "01a1fd46-357c-7482": the creation millisecond plus 12 counter bits
WIDE = 120  # columns from which the tables show full ids, seeds, planners and more
NARROW = 70  # columns below which the tables drop what matters least (outputs, dates)
SHORT_ID = 13  # "01a1fd46-357c": the creation millisecond, where columns are scarce


def _run_status(run: RunRecord) -> str:
    """The status, the verdict of a reproduction, and a mark on a damaged record."""
    text = f"[{_RUN_STYLE[run.status]}]{run.status.value}[/]"
    if run.verdict:
        style = "red" if run.verdict == "diverged" else "green"
        text += f" [{style}]({run.verdict})[/]"
    if run.damaged:
        text += " [red bold]DAMAGED[/]"
    return text


def run_view(view: RunView) -> None:
    _fit_console()
    run = view.run
    width = console.width
    wide = width >= WIDE
    console.print(f"[bold]run {run.id}[/]  {_run_status(run)}")
    if run.verifies:
        console.print(f"reproduces {run.verifies}: verdict {run.verdict or 'not recorded'}")
    if run.damaged:
        console.print(f"[red]the stored run record is damaged:[/] {run.damaged}")
    console.print(
        f"workflow {escape(run.workflow)}  seed {run.seed}  "
        f"planner {escape(str(run.planner.get('name', '?')))}  "
        f"created {_when(run.created_at)}  finished {_when(run.finished_at)}"
    )
    console.print(f"environment {short(run.environment)}  host {run.host or '-'}")
    if run.parent_id:
        console.print(f"forked from {run.parent_id} at step {run.fork_index}")
    if run.overrides:
        console.print(f"overrides {escape(canonical_json(run.overrides))}")
    for given in view.inputs:
        where = escape(given.path) if given.path else "a value"
        copied = "" if given.copied else " (not copied: digest only)"
        line = f"input {escape(given.name)} {short(given.digest)} {where}{copied}"
        console.print(line, soft_wrap=True, highlight=False)  # a path is never cut
    table, cut = _steps_table(view, width)
    console.print(table, soft_wrap=True)
    for step in view.steps:
        if step.damaged:
            console.print(f"[red]step {step.index} record damaged:[/] {step.damaged}")
        if step.error:
            console.print(
                f"[red]step {step.index} {escape(step.error.type)}:[/] "
                + escape(recorded_error(step.error.message))
            )
    _observations(view)
    if run.error:
        console.print(f"reason: {escape(recorded_error(run.error))}")
    if view.metrics:
        console.print(f"metrics: {escape(_metrics(view.metrics))}")
    if cut or not wide:
        what = "values" if cut else "digests"
        console.print(f"[dim]{what} shortened to fit; `reprolam show RUN --json` has them whole[/]")
    # show reads records as stored and re-hashes nothing (it must stay fast on long runs):
    # say so, rather than let an edited record pass for a checked one.
    console.print("[dim]as stored, not verified: `reprolam replay RUN` checks every hash[/]")


def _steps_table(view: RunView, width: int) -> tuple[ConsoleRenderable, bool]:
    """The trace as a table that fits ``width`` columns: digests shortened, the least useful
    columns dropped first (inputs, then seeds, then outputs), never a value per character."""
    from reprolam.cli import steps_table

    wide = width >= WIDE
    hash_chars = 64 if width >= 220 else 16 if wide else 8
    marked = any(s.recovers is not None or view.inherited(s) for s in view.steps)
    columns = steps_table.step_columns(wide=wide, width=width, marked=marked)
    rows = steps_table.steps_cells(view, wide=wide, width=width, hash_chars=hash_chars)
    return steps_table.render_table(columns, rows, width)


def annotation_list(items: Sequence[Annotation]) -> None:
    for a in items:
        text = f"[cyan]{escape(a.value)}[/]" if a.kind == "tag" else escape(a.value)
        console.print(f"{a.kind:<4} {text}  [dim]{_when(a.created_at)}[/]")


def short_ids(ids: Sequence[str], length: int) -> list[str]:
    """``ids`` cut to ``length`` characters, or longer if that would make two of them look the
    same (runs forked in one millisecond, as a sweep's parallel points are): every shortened
    id shown is a unique prefix a command accepts."""
    distinct = set(ids)
    longest = max(map(len, distinct), default=0)
    while length < longest and len({i[:length] for i in distinct}) < len(distinct):
        length += 1
    return [i[:length] for i in ids]


def comparison(result: RunComparison) -> None:
    """One row per param or metric, one column per run. Runs that do not fit the terminal go
    on into further tables (the same rows), so no id, label or value is ever cut."""
    _fit_console()
    differing = result.differing
    ids = short_ids(
        [run.id for run in result.runs], SHORT_ID if len(result.runs) > 2 else NARROW_ID
    )
    names = [*result.params, *result.metrics]
    labels = [f"{name}*" if name in differing else name for name in names]
    columns = [[_cell(v.get(name)) for name in names] for v in result.values]
    label_width = max([0, *map(len, labels)])
    widths = [max([len(i), *map(len, cells)]) for i, cells in zip(ids, columns, strict=True)]
    # SIMPLE_HEAD: three characters between columns and three around them
    room = console.width - label_width - 3
    groups: list[list[int]] = [[]]
    used = 0
    for index, width in enumerate(widths):
        if groups[-1] and used + width + 3 > room:
            groups.append([])
            used = 0
        groups[-1].append(index)
        used += width + 3
    for group in groups:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        table.add_column("", no_wrap=True)
        for index in group:
            table.add_column(ids[index], no_wrap=True, justify="right")
        for row, (name, label) in enumerate(zip(names, labels, strict=True)):
            text = f"[bold yellow]{escape(label)}[/]" if name in differing else escape(label)
            table.add_row(text, *(columns[index][row] for index in group))
        console.print(table)
    if differing:
        console.print("[dim]* differs between the runs; --csv or --json for full ids and digits[/]")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return escape(value if isinstance(value, str) else canonical_json(value))


def _fit_console() -> None:
    """Follow $COLUMNS when set (pipes and test runners have no terminal to ask)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        console.width = int(columns)


def _observations(view: RunView) -> None:
    """What actions printed, warned and did outside the engine, step by step."""
    from reprolam.history.observed import describe_effect, effects_of

    for step in view.steps:
        for effect in effects_of(step):
            style = "dim" if effect.get("declared") else "yellow"
            console.print(
                f"[{style}]step {step.index} {step.action}: {escape(describe_effect(effect))}[/]"
            )
        captured = view.captured.get(step.index) or {}
        if "damaged" in captured:
            console.print(
                f"[red]step {step.index} {step.action}: captured output damaged:[/] "
                + escape(str(captured["damaged"])),
                highlight=False,
            )
        for warning in captured.get("warnings", []):
            console.print(
                f"[yellow]step {step.index} {step.action} warned:[/] "
                + escape(f"{warning['category']}: {warning['message']}"),
                markup=True,
                highlight=False,
            )
        for stream in ("stdout", "stderr"):
            text = captured.get(stream)
            if text:
                dropped = captured.get(f"{stream}_dropped")
                more = f" (+{dropped} characters not kept)" if dropped else ""
                console.print(f"[dim]step {step.index} {step.action} {stream}{more}:[/]")
                console.out(_shown_output(text), highlight=False)


SHOWN_LINES = 40  # of a step's captured stream in `show`: its first and last 20 lines


def _shown_output(text: str) -> str:
    """A captured stream as `show` prints it: whole if short, else its first and last lines
    with how many are left out (``show --json`` has it all)."""
    lines = text.rstrip("\n").splitlines()
    half = SHOWN_LINES // 2
    if len(lines) <= SHOWN_LINES and len(text) <= 200 * SHOWN_LINES:
        return "\n".join(lines)
    head = [line[:200] for line in lines[:half]]
    tail = [line[:200] for line in lines[-half:]] if len(lines) > SHOWN_LINES else []
    cut = max(len(lines) - len(head) - len(tail), 0)
    note = f"[... {cut} more lines; `reprolam show RUN --json` has them all ...]"
    return "\n".join(
        [*head, note, *tail] if cut else [*head, "[... lines cut to 200 characters ...]"]
    )


def workflows_table(flows: Sequence[Workflow]) -> None:
    table = Table("workflow", "actions", "outputs", "goal")
    for flow in flows:
        table.add_row(
            flow.name, " -> ".join(flow.actions.names), ", ".join(flow.outputs), flow.goal
        )
    console.print(table)


def actions_table(flow: Workflow) -> None:
    table = Table("action", "inputs", "outputs", "params", "determinism", "version")
    for spec in flow.actions:
        params = spec.params_schema().get("properties", {})
        described = ", ".join(
            f"{name}={props['default']!r}" if "default" in props else name
            for name, props in params.items()
        )
        table.add_row(
            spec.name + (" [dim](optional)[/]" if spec.optional else ""),
            ", ".join(spec.inputs) or "-",
            ", ".join(spec.outputs),
            described or "-",
            spec.determinism,
            spec.version,
        )
    console.print(table)


def replay_result(result: ReplayResult) -> None:
    from reprolam.codecs import describe

    what = f"step {result.step} of run" if result.step is not None else "run"
    console.print(
        f"replayed {what} [bold]{result.run.id}[/] from the store: {result.steps_replayed} "
        f"executed steps, nothing re-executed ({result.seconds * 1000:.1f} ms)"
    )
    for name, value in result.outputs.items():
        console.print(f"  {name} = {short(result.digests[name])}  {escape(describe(value))}")
    if result.error is not None:  # a failed step or run has no outputs (or not all) to show
        chosen = result.chosen
        what = f"step {chosen.index} ({chosen.action})" if chosen is not None else "the run"
        status = (chosen or result.run).status.value
        console.print(f"  [red]{what} {status}[/]: {escape(recorded_error(result.error))}")
    _verdict(result.verified, "verified: hash chain and every artifact intact", result.problems)


def reproduce_result(result: ReproduceResult) -> None:
    if result.reproduction is not None:
        console.print(f"reproduction run [bold]{result.reproduction.id}[/]")
    ok = result.reproduced
    console.print(f"[{'green' if ok else 'red'}]{escape(result.summary())}[/]")
    divergence = result.divergence
    if divergence is not None and divergence.expected:
        console.print(escape(f"  expected {divergence.expected}\n  actual   {divergence.actual}"))
    for problem in result.problems[1:]:
        console.print(f"  [red]{escape(problem_text(problem))}[/]")
    code_changes(result.code)
    if result.environment and (divergence is not None or not result.bitwise):
        ranked_environment(result.environment, result.ranked)


def code_changes(
    changes: Sequence[CodeChange], heading: str = "code changed since it was recorded:"
) -> None:
    """Each changed action, helper and constant with its diff; changed modules and git state."""
    if not changes:
        return
    console.print(heading)
    for change in changes:
        console.print(f"  [yellow]{escape(change.describe())}[/]", highlight=False)
        if change.diff:
            console.out(textwrap.indent(change.diff.rstrip("\n"), "    "), highlight=False)


def ranked_environment(environment: dict[str, tuple[Any, Any]], ranked: RankedEnvironment) -> None:
    """Packages the actions import first, then the system, then the other packages collapsed."""
    if ranked.relevant:
        console.print("environment differences in packages the actions import:")
        for key in ranked.relevant:
            old, new = environment[key]
            console.print(f"  [bold]{key}[/]: " + escape(f"{_brief(old)} -> {_brief(new)}"))
    data = [k for k in ranked.system if k.startswith("inputs.")]  # the run's data, not the OS
    system = [k for k in ranked.system if not k.startswith("inputs.")]
    for heading, keys in (
        ("input data differences:", data),
        ("environment differences in the system:", system),
    ):
        if not keys:
            continue
        console.print(heading)
        for key in keys[:10]:
            old, new = environment[key]
            console.print(escape(f"  {key}: {_brief(old)} -> {_brief(new)}"), highlight=False)
        if len(keys) > 10:
            console.print(f"  ... and {len(keys) - 10} more")
    if ranked.other_packages:
        names = ", ".join(k.rpartition(".")[2] for k in ranked.other_packages[:8])
        more = ", ..." if len(ranked.other_packages) > 8 else ""
        console.print(
            f"[dim]{len(ranked.other_packages)} other package differences (not imported by the "
            f"actions): {names}{more}[/]",
            highlight=False,
        )


def fork_result(
    run: RunRecord, steps: Sequence[StepRecord], metrics: dict[str, Any] | None
) -> None:
    own = [s for s in steps if s.run_id == run.id]
    reused = sum(s.reused for s in own)
    done = f"{len(own) - reused} executed" + (f", {reused} reused" if reused else "")
    console.print(
        f"fork [bold]{run.id}[/] of {run.parent_id} at step {run.fork_index}: "
        f"{len(steps) - len(own)} steps inherited by reference, {done}: "
        f"[{_RUN_STYLE[run.status]}]{run.status.value}[/]"
    )
    for step in own:
        advice = step.proposal.get("cache")
        if advice:
            console.print(f"  step {step.index} {step.action}: {_cache_note(advice)}")
    if run.error:
        console.print(f"reason: {escape(recorded_error(run.error))}")
    if metrics:
        console.print(f"metrics: {escape(_metrics(metrics))}")


def _cache_note(advice: dict[str, Any]) -> str:
    run_id, index = advice["counterpart"]
    where = f"step {index} of run {run_id}" if advice.get("store_wide") else f"parent step {index}"
    if advice.get("reused"):
        checked = advice.get("reads_checked")  # from the record: an int, unless edited
        same = same_as_recorded(checked if type(checked) is int else 0)
        return f"[cyan]reused[/] the outputs of {where} ({same})"
    if advice.get("edited"):
        return (
            f"[yellow]re-executed[/]: {where} was edited after it was recorded (its hash no "
            "longer holds), so its outputs were not reused; `reprolam audit` it"
        )
    if advice.get("damaged"):
        return (
            f"[yellow]re-executed[/]: the {escape(str(advice['damaged']))}, so {where}'s outputs "
            "were not reused; recording them again replaces damaged bytes"
        )
    if advice.get("undeclared"):
        return (
            f"[yellow]re-executed[/]: {where}'s outputs were computed with undeclared effects "
            f"the strict effects policy refuses ({escape(str(advice['undeclared']))}), so "
            "they were not reused"
        )
    if advice.get("hit") and advice.get("unfinished"):
        return f"same as {where}, which had not finished (nothing to reuse)"
    if advice.get("hit") and advice.get("counterpart_failed"):
        return f"same as {where}, which failed (nothing to reuse)"
    if advice.get("hit") and advice.get("external"):
        return f"[cyan]cache hit[/]: same as {where}; {EXTERNAL_NOT_REUSED}"
    if advice.get("hit"):
        return f"[cyan]cache hit[/]: same as {where} (pass --reuse to take its outputs)"
    return f"re-executed: differs from {where} in {escape(', '.join(advice['changed']))}"


def run_diff(result: RunDiff) -> None:
    console.print(f"a {result.a.id}\nb {result.b.id}\n{result.relation}")
    console.print(f"shared history: {result.shared_steps} steps (recorded once, held by both)")
    table = Table("#", "a", "b", "differences")
    for step in result.steps:
        if step.shared:
            continue
        changes = "\n".join(
            f"{k}: {_brief(a)} -> {_brief(b)}" for k, (a, b) in step.changes.items()
        )
        table.add_row(
            str(step.index), step.action_a or "-", step.action_b or "-", changes or "same"
        )
    if table.row_count:
        console.print(table)
    for key, (a, b) in result.metrics.items():
        console.print(f"metric {key}: {_brief(a)} -> {_brief(b)}")
    code_changes(result.code, "code differs between a and b:")
    if result.environment:
        console.print(f"environment: {len(result.environment)} differences")
        ranked_environment(result.environment, result.ranked)


def _brief(value: Any) -> str:
    """A number or digest as people read it (``brief.number_words``), anything else as is."""
    if isinstance(value, str) and len(value) == 64:
        return short(value)
    if isinstance(value, float):
        return number_words(value)
    return str(value)


def _verdict(ok: bool, good: str, problems: Sequence[Any]) -> None:
    if ok:
        console.print(f"[green]{good}[/]")
        return
    console.print(f"[red]NOT verified: {len(problems)} problem(s)[/]")
    for problem in problems:
        console.print(f"  [red]{escape(problem_text(problem))}[/]")


def recorded_error(message: str) -> str:
    """A recorded error (a step's, a run's reason) as the CLI shows it: it is recorded in
    Python's spelling (the record is the same whoever ran it); the pickle opt-in, a damaged
    blob's repair and the process executor's timeout are shown with their flags."""
    from reprolam.cli.main import flag_style
    from reprolam.codecs._pickle import OPT_IN
    from reprolam.engine.process import TIMEOUT_SETTING
    from reprolam.errors import render_markup
    from reprolam.trace._rows import BLOB_REPAIR

    for phrase in (OPT_IN, BLOB_REPAIR, TIMEOUT_SETTING):
        message = message.replace(render_markup(phrase), render_markup(phrase, flag_style))
    return message


def problem_text(problem: Problem | AuditProblem) -> str:
    """A verification problem as the CLI says it: options named by their flags."""
    from reprolam.cli.main import flag_style

    return problem.text(flag_style)


if TYPE_CHECKING:
    from reprolam.history.audit import AuditProblem, AuditReport
    from reprolam.history.verify import Problem


def audit_report(report: AuditReport) -> None:
    run = report.run
    console.print(
        f"audit of run [bold]{run.id}[/] ({run.workflow}, "
        f"[{_RUN_STYLE[run.status]}]{run.status.value}[/], {report.steps} steps"
        + (f", {report.inherited} inherited" if report.inherited else "")
        + ")"
    )
    table = Table("check", "result", "what was checked and found")
    for name, check in report.checks().items():
        found = check["problems"]
        result = "[green]✓ ok[/]" if check["ok"] else f"[red]✗ {found} problem(s)[/]"
        table.add_row(name, result, escape(check["summary"]))
    console.print(table)
    for problem in report.problems:
        where = [f"run {problem.run}"] if problem.run else []
        where += [f"step {problem.step}"] if problem.step is not None else []
        where += [f"artifact {short(problem.artifact)}"] if problem.artifact else []
        text = escape(problem_text(problem))
        console.print(f"  [red]{problem.kind}[/] ({', '.join(where)}): {text}")
    for attempt in report.reproductions:
        console.print(f"  reproduction {attempt.where}: {escape(attempt.summary())}")
    if report.effects:
        from reprolam.history.observed import describe_effect

        console.print(f"[yellow]{len(report.effects)} undeclared effect(s) observed:[/]")
        for effect in report.effects:
            console.print(
                f"  step {effect['step']} {effect['action']}: {escape(describe_effect(effect))}",
                highlight=False,
            )
    c, f = report.completeness, report.failures
    least, mean = c.fields_per_action
    status = report.reproducibility
    style = {"reproduced": "green", "diverged": "red"}.get(status, "yellow")
    console.print(
        f"trace completeness   {c.ratio:.2f}  ({c.complete}/{c.executed + c.missing_steps} "
        f"executed steps complete; {least}+ metadata fields per action, mean {mean:.1f})\n"
        f"failure visibility   {f.ratio:.2f}  ({f.visible}/{f.failed} failed steps with a "
        f"complete error record, {len(f.recoveries)} recoveries)\n"
        f"reproducibility      [{style}]{status}[/]"
    )
    if report.clean:
        console.print("[green]audit clean: no problems found[/]")
    else:
        console.print(f"[red]audit found {len(report.problems)} problem(s)[/]")
