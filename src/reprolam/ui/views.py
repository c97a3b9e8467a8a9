"""What each page shows, as plain data: the store is read here, templates only lay it out.

Every function takes the store and returns a dict (the template context and, for the JSON
endpoints, the payload through ``to_json``). No HTML is built here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from reprolam.cli.commands import copyable_commands
from reprolam.engine.inputs import run_inputs
from reprolam.errors import ConfigError, NotFoundError
from reprolam.hashing import canonical_json
from reprolam.history.annotate import headline_metrics, index_page
from reprolam.history.observed import describe_effect, effects_of
from reprolam.trace.contract import TraceStore
from reprolam.trace.queries import RunQuery, leaves_runs_out
from reprolam.trace.records import RunRecord, StepKind, StepRecord, StepStatus
from reprolam.ui.previews import Preview, preview

STEPS_PER_PAGE = 500
MAX_SVG_STEPS = 400  # larger traces get the table only: an SVG that tall helps nobody
MAX_FORK_TREE = 2000
MAX_FORK_CHILDREN = 1000  # forks of one run in its fork tree (a query's largest page)
MAX_FORKS_LISTED = 100  # on a run's page, newest first; its fork tree lists more
MAX_REPRODUCTIONS_LISTED = 50  # on a run's page, newest first
QUERY_FIELDS = (
    "workflow",
    "status",
    "planner",
    "seed",
    "tag",
    "since",
    "until",
    "relation",
    "verdict",
    "metric",
    "order",
    "dir",
)


def when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _day(text: str, name: str) -> float:
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"bad {name} date {text!r}: write it as YYYY-MM-DD") from None
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()


def parse_query(params: Mapping[str, str], *, limit: int = 50) -> RunQuery:
    """A ``RunQuery`` from a runs page's query string (empty fields are no filter)."""
    get = {k: params.get(k, "").strip() for k in (*QUERY_FIELDS, "offset", "limit")}
    seed = None
    if get["seed"]:
        try:
            seed = int(get["seed"])
        except ValueError:
            raise ConfigError(f"bad seed {get['seed']!r}: a seed is a whole number") from None
    try:
        offset = int(get["offset"] or 0)
        limit = int(get["limit"] or limit)
    except ValueError:
        raise ConfigError("bad page: offset and limit are whole numbers") from None
    order = get["order"] or ("metric" if get["metric"] else "created")
    return RunQuery(
        workflow=get["workflow"] or None,
        status=get["status"] or None,
        planner=get["planner"] or None,
        seed=seed,
        tag=get["tag"] or None,
        created_after=_day(get["since"], "since") if get["since"] else None,
        created_before=_day(get["until"], "until") + 86400 if get["until"] else None,
        relation=get["relation"] or None,
        verdict=get["verdict"] or None,
        metric=get["metric"] or None,
        order=order,
        descending=_descending(get["dir"], order, get["metric"]),
        offset=offset,
        limit=limit,
    )


def _descending(direction: str, order: str, metric: str) -> bool:
    """``dir=asc`` or ``desc`` as asked; by default newest first, and a metric best first as
    ``reprolam runs --metric`` lists it (the lowest loss or error, else the highest)."""
    if direction in ("asc", "desc"):
        return direction == "desc"
    if order == "metric" and metric:
        from reprolam.history.sweep_optuna import default_direction

        return default_direction(metric) == "maximize"
    return True


def runs_page(store: TraceStore, params: Mapping[str, str]) -> dict[str, Any]:
    query = parse_query(params)
    # A page's runs are indexed as they are first listed; the rest in the background (see
    # app.py), so a page never waits on more than a page of artifacts.
    page = index_page(store, store.query_runs(query))
    metric_names = sorted({name for row in page.rows for name in row.metrics})
    if query.metric and query.metric not in metric_names:
        metric_names.insert(0, query.metric)
    filters = {k: params.get(k, "") for k in QUERY_FIELDS}
    base = {k: v for k, v in filters.items() if v}

    def link(offset: int) -> dict[str, str]:
        return {**base, "offset": str(offset), "limit": str(query.limit)}

    prev_offset = max(query.offset - query.limit, 0) if query.offset else None
    next_offset = query.offset + query.limit if query.offset + query.limit < page.total else None
    return {
        "page": page,
        "query": query,
        "filters": filters,
        "metric_names": metric_names,
        "prev": None if prev_offset is None else link(prev_offset),
        "next": None if next_offset is None else link(next_offset),
        # a metric filters by the index: runs not indexed yet (or never, in a store this
        # server may only read) are left out, and the page says so
        "unindexed": leaves_runs_out(store, query.metric),
        "first": query.offset + 1 if page.rows else 0,
        "last": query.offset + len(page.rows),
    }


def step_category(step: StepRecord) -> str:
    if step.kind is StepKind.REJECTION:
        return "rejected"
    if step.kind is StepKind.DECISION:
        return "decision"
    if step.recovers is not None:
        return "recovery"
    return step.status.value


def run_page(store: TraceStore, run_ref: str, *, steps_offset: int = 0) -> dict[str, Any]:
    """A run, with one page of its steps: a long run's page reads that page, not the run."""
    run_id = store.resolve_run_id(run_ref)
    (row,) = store.query_runs(RunQuery(ids=(run_id,), limit=1)).rows
    run, step_count = row.run, row.steps
    svg = ""
    if 0 < step_count <= MAX_SVG_STEPS:
        from reprolam.provenance._model import build_run_graph
        from reprolam.provenance._svg import render_svg

        svg = render_svg(build_run_graph(store, run_id))
    # A recovery follows its failure closely: look a little past the page for them.
    end = min(steps_offset + STEPS_PER_PAGE, step_count)
    # By index range, not one index at a time: a step row deleted from the store is left out
    # of the page (audit reports it) rather than making the whole page "not found".
    read = store.steps_between(run_id, steps_offset, min(end + 20, step_count))
    shown = [s for s in read if s.index < end]
    recovered_by = {s.recovers: s.index for s in read if s.recovers is not None}
    inherited = run.fork_index if run.parent_id and run.fork_index is not None else 0
    forks = store.query_runs(RunQuery(parent_id=run_id, limit=MAX_FORKS_LISTED))
    return {
        "run": run,
        "steps": shown,
        "step_count": step_count,
        "steps_offset": steps_offset,
        "steps_next": end if end < step_count else None,
        "steps_prev": max(steps_offset - STEPS_PER_PAGE, 0) if steps_offset else None,
        "inherited": inherited,
        "recovered_by": recovered_by,
        "categories": {s.index: step_category(s) for s in shown},
        "svg": svg,
        "svg_skipped": step_count > MAX_SVG_STEPS,
        "metrics": headline_metrics(store, run),
        "inputs": run_inputs(store, run),
        "annotations": store.annotations(run_id),
        # one more than listed: the page says when there are more than it lists
        "reproductions": store.list_runs(verifies=run_id, limit=MAX_REPRODUCTIONS_LISTED + 1),
        "reproductions_listed": MAX_REPRODUCTIONS_LISTED,
        "forks": forks.rows,
        "forks_total": forks.total,  # a sweep's parent may have more than are listed
        "commands": copyable_commands(run),
        "live": run.status.value == "running",
    }


def live(store: TraceStore, run_ref: str) -> dict[str, Any]:
    """What a running run's page polls: its status and how many steps are recorded."""
    run_id = store.resolve_run_id(run_ref)
    (row,) = store.query_runs(RunQuery(ids=(run_id,), limit=1)).rows
    return {"run": run_id, "status": row.run.status.value, "steps": row.steps}


def _artifact_entries(store: TraceStore, named: Mapping[str, str]) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for name, digest in named.items():
        try:
            record = store.get_artifact_record(digest)
        except NotFoundError:
            entries.append({"name": name, "digest": digest, "record": None, "preview": None})
            continue
        entries.append(
            {"name": name, "digest": digest, "record": record, "preview": preview(store, record)}
        )
    return entries


def llm_exchange(step: StepRecord) -> dict[str, Any] | None:
    """Messages, reply and usage of the LLM call behind a decision, when one was recorded."""
    decision = step.proposal.get("decision")
    if not isinstance(decision, dict):
        return None
    request = decision.get("request") if isinstance(decision.get("request"), dict) else {}
    messages = request.get("messages") if isinstance(request, dict) else None
    response = decision.get("response")
    reply: Any = decision.get("response_text")
    if isinstance(response, dict):
        choices = response.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            reply = choices[0].get("message", choices[0])
    return {
        "messages": [
            {"role": str(m.get("role", "?")), "content": _as_text(m.get("content"))}
            for m in (messages if isinstance(messages, list) else [])
            if isinstance(m, dict)
        ],
        "reply": _reply_text(reply),
        "usage": decision.get("usage"),
        "raw": pretty(decision),
    }


def _reply_text(message: Any) -> str:
    """The assistant's words, then its tool calls (the proposal) as JSON."""
    if not isinstance(message, dict):
        return _as_text(message)
    parts = [message["content"]] if isinstance(message.get("content"), str) else []
    if message.get("tool_calls"):
        parts.append(pretty(message["tool_calls"]))
    return "\n\n".join(parts) if parts else pretty(message)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else pretty(value)


def pretty(value: Any) -> str:
    import json

    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


def step_page(store: TraceStore, run_ref: str, index: int) -> dict[str, Any]:
    run_id = store.resolve_run_id(run_ref)
    (row,) = store.query_runs(RunQuery(ids=(run_id,), limit=1)).rows
    run = row.run
    step = store.step_at(run_id, index)
    recovered_by = None
    if step.status is StepStatus.FAILED:  # only a failure has a recovery to point at
        for other in store.steps(run_id):
            if other.recovers == index:
                recovered_by = other.index
                break
    proposal = {k: v for k, v in step.proposal.items() if k != "decision"}
    return {
        "run": run,
        "step": step,
        "category": step_category(step),
        "inherited": step.run_id != run_id,
        "params": pretty(step.params),
        "proposal": pretty(proposal) if proposal else "",
        "inputs": _artifact_entries(store, step.inputs),
        "outputs": _artifact_entries(store, step.outputs),
        "exchange": llm_exchange(step),
        "recovered_by": recovered_by,
        "has_next": index + 1 < row.steps,  # the last step links to no step after it
        "reused_from": reused_from(step),
        # what it read and did outside the door, as `reprolam show` lists it
        "effects": [describe_effect(e) for e in effects_of(step)],
    }


def reused_from(step: StepRecord) -> tuple[str, int] | None:
    """The run and index of the recorded step whose outputs a reused step took (``--reuse``),
    as ``reprolam show`` names it; None for a step that computed its own."""
    if not step.reused:
        return None
    counterpart = step.proposal["cache"].get("counterpart")
    if isinstance(counterpart, list | tuple) and len(counterpart) == 2:
        run_id, index = counterpart
        if isinstance(run_id, str) and type(index) is int:
            return run_id, index
    return None


def step_json(context: Mapping[str, Any]) -> dict[str, Any]:
    def entries(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for e in items:
            record, shown = e["record"], e["preview"]
            out.append(
                {
                    "name": e["name"],
                    "digest": e["digest"],
                    "codec": record.codec if record else None,
                    "size": record.size if record else None,
                    "preview": shown.to_dict() if isinstance(shown, Preview) else None,
                }
            )
        return out

    step: StepRecord = context["step"]
    return {
        "run": context["run"].id,
        "step": step.to_dict(),
        "inherited": context["inherited"],
        "inputs": entries(context["inputs"]),
        "outputs": entries(context["outputs"]),
        "recovered_by": context["recovered_by"],
        "effects": context["effects"],  # as the page and `reprolam show` word them
    }


def artifact_page(store: TraceStore, digest: str) -> dict[str, Any]:
    record = store.get_artifact_record(digest)
    return {
        "record": record,
        "producer": store.artifact_producer(digest),
        "preview": preview(store, record),
    }


def fork_tree(store: TraceStore, run_ref: str) -> dict[str, Any]:
    """The run's family: from its root ancestor down every fork (breadth first, capped)."""
    run_id = store.resolve_run_id(run_ref)
    root = store.get_run(run_id)
    seen = {root.id}
    # Up to the oldest ancestor in the store: an edited store may have lost one (the tree
    # starts below it) or hold a cycle of parents.
    while root.parent_id is not None and root.parent_id not in seen:
        try:
            root = store.get_run(root.parent_id)
        except NotFoundError:
            break
        seen.add(root.id)
    nodes: list[tuple[int, RunRecord]] = []
    frontier = [(0, root)]
    placed = {root.id}
    children_left_out = False
    while frontier and len(nodes) < MAX_FORK_TREE:
        depth, run = frontier.pop()
        nodes.append((depth, run))
        children = store.query_runs(
            RunQuery(parent_id=run.id, limit=MAX_FORK_CHILDREN, descending=True)
        )
        children_left_out |= children.total > len(children.rows)
        new = [row.run for row in children.rows if row.run.id not in placed]
        placed.update(r.id for r in new)
        frontier.extend((depth + 1, child) for child in new)
    return {"current": run_id, "nodes": nodes, "capped": bool(frontier) or children_left_out}


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:.6g}"
    return canonical_json(value)


def compare_page(
    store: TraceStore, run_refs: Sequence[str], x: str | None, y: str | None
) -> dict[str, Any]:
    from reprolam.history.comparison import compare_runs
    from reprolam.history.sweep import run_or_sweep_ids
    from reprolam.ui.plots import scatter_svg

    comparison = compare_runs(store, run_or_sweep_ids(store, run_refs))
    differing = comparison.differing
    x = x or next((c for c in comparison.params if c in differing), None)
    y = y or next(iter(comparison.metrics), None)
    plot = ""
    if x and y:
        points = [
            (v.get(x), v.get(y), r.id)
            for r, v in zip(comparison.runs, comparison.values, strict=True)
        ]
        plot = scatter_svg(points, x_label=x, y_label=y)
    return {
        "comparison": comparison,
        "differing": differing,
        "columns": [*comparison.params, *comparison.metrics],
        "x": x,
        "y": y,
        "plot": plot,
        "cell": _cell,
    }
