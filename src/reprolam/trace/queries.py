"""Finding runs: the filters, order and page a runs list asks for, and annotations.

Annotations (tags and notes) and the headline-metric index are kept beside the trace, never
in it: they are not part of any step, so adding or changing them changes no hash.

``RunQuery`` is answered by each backend (``TraceStore.query_runs``); the SQL backends
share ``build_run_query`` here, the memory backend ``matches`` and ``sort_key``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from reprolam.brief import metrics_words, run_words
from reprolam.errors import ConfigError
from reprolam.trace._rows import big_int_out
from reprolam.trace.records import RunRecord, RunStatus, storable_name, storable_text

if TYPE_CHECKING:
    from reprolam.trace.contract import TraceStore

AnnotationKind = Literal["tag", "note"]
ANNOTATION_KINDS: tuple[str, ...] = ("tag", "note")
RELATIONS = ("root", "fork", "reproduction")
VERDICTS = ("reproduced", "diverged", "unverified")
ORDERS = ("created", "seed", "workflow", "status", "metric")
MAX_PAGE = 1000
MAX_OFFSET = 2**63 - 1  # the stores' integers are 64-bit
COUNT_CAP = 10_000  # filtered counts stop past this many matching runs (see RunPage.total)
MAX_TAG = 100  # characters


@dataclass(frozen=True, slots=True)
class Annotation:
    """A tag or a note on a run, kept beside its trace (never hashed into it)."""

    run_id: str
    kind: str  # tag | note
    value: str
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RunQuery:
    """Which runs a list shows, in which order, which page. Every filter is optional."""

    ids: tuple[str, ...] | None = None  # only these runs
    workflow: str | None = None
    status: str | None = None
    planner: str | None = None  # the planner's name (rules, llm, ...)
    seed: int | None = None
    tag: str | None = None
    created_after: float | None = None  # seconds since the epoch, inclusive
    created_before: float | None = None  # exclusive
    parent_id: str | None = None  # only forks of this run
    relation: str | None = None  # root (neither fork nor reproduction) | fork | reproduction
    verdict: str | None = None  # reproduced | diverged | unverified (its reproductions' verdicts)
    metric: str | None = None  # only runs with this headline metric indexed
    # created | seed | workflow | status | metric (by ``metric``; ties by id = creation order)
    order: str = "created"
    descending: bool = True
    offset: int = 0
    limit: int = 50

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in {s.value for s in RunStatus}:
            raise ConfigError(_choice("status", self.status, [s.value for s in RunStatus]))
        if self.relation is not None and self.relation not in RELATIONS:
            raise ConfigError(_choice("relation", self.relation, RELATIONS))
        if self.verdict is not None and self.verdict not in VERDICTS:
            raise ConfigError(_choice("verdict", self.verdict, VERDICTS))
        if self.order not in ORDERS:
            raise ConfigError(_choice("order", self.order, ORDERS))
        if self.order == "metric" and not self.metric:
            raise ConfigError("ordering by metric needs a metric name: pass {metric=NAME}")
        if not 0 < self.limit <= MAX_PAGE:
            raise ConfigError(f"page size {self.limit} is out of range: pass 1..{MAX_PAGE}")
        if not 0 <= self.offset <= MAX_OFFSET:
            raise ConfigError(f"offset {self.offset} is out of range: pass 0..{MAX_OFFSET}")
        for name in ("workflow", "planner", "tag", "parent_id", "metric"):
            _check_filter_text(name, getattr(self, name))
        for run_id in self.ids or ():
            _check_filter_text("id", run_id)


def _check_filter_text(name: str, value: str | None) -> None:
    """A text filter no store holds (a NUL, a lone surrogate) is bad input, said as such:
    PostgreSQL cannot even compare a NUL, so the list failed as a store error."""
    if value is not None and storable_name(value) != value:
        raise ConfigError(
            f"bad {name} filter {value!r}: it holds a NUL or text that is not valid Unicode, "
            "which no record holds; pass the text as the record shows it"
        )


@dataclass(frozen=True, slots=True)
class RunRow:
    """One run as a list shows it: the record, its whole step count, metrics and tags."""

    run: RunRecord
    steps: int  # inherited (a fork's prefix) plus its own
    metrics: dict[str, float] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    indexed: bool = False  # its metrics are indexed (``metrics`` may still be empty)

    def __repr__(self) -> str:
        metrics = f", {metrics_words(self.metrics)}" if self.metrics else ""
        tags = f", tags: {', '.join(self.tags)}" if self.tags else ""
        return f"<RunRow {run_words(self.run)}, {self.steps} steps{metrics}{tags}>"

    @property
    def own_steps(self) -> int:
        inherited = (self.run.fork_index or 0) if self.run.parent_id else 0
        return self.steps - inherited

    def to_dict(self) -> dict[str, Any]:
        run = self.run.to_dict()
        return {**run, "steps": self.steps, "metrics": self.metrics, "tags": self.tags}


@dataclass(frozen=True, slots=True)
class RunPage:
    rows: list[RunRow]
    total: int  # runs matching the filters, on every page; capped (see ``exact``)
    query: RunQuery

    def __repr__(self) -> str:
        first = self.query.offset + 1 if self.rows else self.query.offset
        total = f"{self.total}" if self.exact else f"at least {self.total}"
        return f"<RunPage runs {first}-{self.query.offset + len(self.rows)} of {total}>"

    def __str__(self) -> str:
        return "\n".join([repr(self), *(f"  {row!r}" for row in self.rows)])

    @property
    def exact(self) -> bool:
        """False when ``total`` is the count cap: more runs match than were counted."""
        return not filtered(self.query) or self.total <= count_cap(self.query)

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "total_exact": self.exact,
            "offset": self.query.offset,
            "limit": self.query.limit,
            "runs": [r.to_dict() for r in self.rows],
        }


def _choice(name: str, value: str, choices: Any) -> str:
    return f"unknown {name} {value!r}: choose one of {', '.join(choices)}"


def check_annotation(kind: str, value: str) -> str:
    """The value to store, or a ``ConfigError`` saying what is wrong with it."""
    if kind not in ANNOTATION_KINDS:
        raise ConfigError(_choice("annotation kind", kind, ANNOTATION_KINDS))
    if not isinstance(value, str):
        raise ConfigError(
            f"a {kind} is text, not a {type(value).__name__} ({value!r:.60}): pass each tag as "
            "its own argument (rl.tag(run, 'a', 'b')), a note as one string"
        )
    if kind == "tag":
        value = value.strip()
        if not value or len(value) > MAX_TAG or any(c.isspace() for c in value):
            raise ConfigError(
                f"bad tag {value!r}: a tag is 1 to {MAX_TAG} characters without spaces"
            )
    elif not value.strip():
        raise ConfigError("empty note: write some text")
    if storable_text(value) != value:
        raise ConfigError(
            f"bad {kind} {value!r}: it holds text that is not valid Unicode (as a terminal that "
            "is not set to UTF-8 sends it); write it in UTF-8"
        )
    return value


def numeric_metrics(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    """The finite numbers among a run's headline metrics (what the index keeps)."""
    return {str(k): float(v) for k, v in (metrics or {}).items() if finite_number(v)}


def leaves_runs_out(store: TraceStore, metric: str | None) -> bool:
    """Whether a list filtered or sorted by ``metric`` leaves finished runs out: those not
    indexed yet (or never, in a store this process may only read)."""
    return bool(metric) and bool(store.runs_without_metrics(limit=1))


def finite_number(value: Any) -> bool:
    """A metric a list can sort by: an int or float (not a bool), neither NaN nor infinite."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value)


# -- the memory backend -----------------------------------------------------------------------


def matches(
    q: RunQuery,
    run: RunRecord,
    tags: set[str],
    metrics: Mapping[str, float],
    verdicts: Callable[[str], set[str]],
) -> bool:
    """Whether ``run`` passes ``q``'s filters; ``verdicts(id)``: its reproductions' verdicts."""
    checks = (
        q.ids is None or run.id in q.ids,
        q.workflow is None or run.workflow == q.workflow,
        q.status is None or run.status.value == q.status,
        q.planner is None or run.planner.get("name") == q.planner,
        q.seed is None or run.seed == q.seed,
        q.tag is None or q.tag in tags,
        q.created_after is None or run.created_at >= q.created_after,
        q.created_before is None or run.created_at < q.created_before,
        q.parent_id is None or run.parent_id == q.parent_id,
        q.metric is None or q.metric in metrics,
    )
    if not all(checks):
        return False
    if q.relation == "root" and (run.parent_id or run.verifies):
        return False
    if q.relation == "fork" and not run.parent_id:
        return False
    if q.relation == "reproduction" and not run.verifies:
        return False
    if q.verdict is not None:
        return _verdict_of(verdicts(run.id)) == q.verdict
    return True


REPRODUCED = ("identical", "within-tolerance")  # recorded verdicts that reproduce the run


def _verdict_of(verdicts: set[str]) -> str:
    if verdicts & set(REPRODUCED):
        return "reproduced"
    if "diverged" in verdicts:
        return "diverged"
    return "unverified"


def sort_key(q: RunQuery, run: RunRecord, metrics: Mapping[str, float]) -> tuple[Any, ...]:
    """Ties (and missing metrics, which sort last either way) fall back to creation order."""
    created = (run.created_at, run.id)
    if q.order == "metric":  # only runs having the metric get here (it is a filter too)
        return (metrics.get(q.metric or "", 0.0), run.id)
    if q.order == "seed":
        return (run.seed, *created)
    if q.order == "workflow":
        return (run.workflow, *created)
    if q.order == "status":
        return (run.status.value, *created)
    return created


# -- the SQL backends -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dialect:
    param: str  # ? or %s
    created: str  # the column that orders by creation time
    planner_name: str  # an expression for the planner's name
    seed: Callable[[int], Any]  # a seed as the seed column holds it


# SQLite integers are 64-bit: a larger seed is stored, and so matched, as its decimal text.
SQLITE = Dialect("?", "runs.created_at", "json_extract(runs.planner, '$.name')", big_int_out)
POSTGRES = Dialect(
    "%s", "runs.created_order", "(runs.planner::json ->> 'name')", lambda s: str(int(s))
)


def _where(q: RunQuery, d: Dialect) -> tuple[list[str], list[Any]]:
    """The filters of ``q`` as SQL conditions (ANDed) and their parameters."""
    p = d.param
    where: list[str] = []
    params: list[Any] = []

    def add(sql: str, *values: Any) -> None:
        where.append(sql)
        params.extend(values)

    if q.ids is not None:
        add(f"runs.id IN ({', '.join([p] * len(q.ids))})" if q.ids else "1 = 0", *q.ids)
    if q.workflow is not None:
        add(f"runs.workflow = {p}", q.workflow)
    if q.status is not None:
        add(f"runs.status = {p}", q.status)
    if q.planner is not None:
        add(f"{d.planner_name} = {p}", q.planner)
    if q.seed is not None:
        add(f"runs.seed = {p}", d.seed(q.seed))
    if q.tag is not None:  # IN, so the tag's index drives both the page and the count
        add(
            "runs.id IN (SELECT a.run_id FROM annotations a WHERE a.kind = 'tag' "
            f"AND a.value = {p})",
            q.tag,
        )
    if q.created_after is not None:
        add(f"{d.created} >= {p}", q.created_after)
    if q.created_before is not None:
        add(f"{d.created} < {p}", q.created_before)
    if q.parent_id is not None:
        add(f"runs.parent_id = {p}", q.parent_id)
    if q.relation == "root":
        add("runs.parent_id IS NULL AND runs.verifies IS NULL")
    elif q.relation == "fork":
        add("runs.parent_id IS NOT NULL")
    elif q.relation == "reproduction":
        add("runs.verifies IS NOT NULL")
    if q.metric is not None and q.order != "metric":  # ordering by it joins it instead
        add(f"runs.id IN (SELECT m.run_id FROM run_metrics m WHERE m.name = {p})", q.metric)
    if q.verdict is not None:
        exists = "EXISTS (SELECT 1 FROM runs r WHERE r.verifies = runs.id AND r.verdict IN ({}))"
        ok = exists.format(", ".join(f"'{v}'" for v in REPRODUCED))
        failed = exists.format("'diverged'")
        add(
            {
                "reproduced": ok,
                "diverged": f"NOT {ok} AND {failed}",
                "unverified": f"NOT {ok} AND NOT {failed}",
            }[q.verdict]
        )
    return where, params


def build_run_query(q: RunQuery, d: Dialect) -> tuple[str, list[Any], str, list[Any]]:
    """``(page_sql, page_params, count_sql, count_params)``; the page selects run ids."""
    p = d.param
    where, params = _where(q, d)
    clause = f"WHERE {' AND '.join(where)} " if where else ""
    direction = "DESC" if q.descending else "ASC"
    join, join_params = "", []
    order_by = {
        "created": f"{d.created} {direction}, runs.id {direction}",
        "seed": f"runs.seed {direction}, {d.created} {direction}, runs.id {direction}",
        "workflow": f"runs.workflow {direction}, {d.created} {direction}, runs.id {direction}",
        "status": f"runs.status {direction}, {d.created} {direction}, runs.id {direction}",
    }.get(q.order)
    if q.order == "metric":
        # Index order of run_metrics (name, value, then its key run_id): a page of the best
        # runs reads a page of that index. Ties go by run id, which is creation order.
        join = f"JOIN run_metrics o ON o.run_id = runs.id AND o.name = {p} "
        join_params = [q.metric]
        order_by = f"o.value {direction}, o.run_id {direction}"
    if q.order == "seed" and d.param == "%s":  # PostgreSQL keeps seeds as number text
        order_by = order_by.replace("runs.seed", "runs.seed::numeric", 1)  # type: ignore[union-attr]
    page_sql = f"SELECT runs.id FROM runs {join}{clause}ORDER BY {order_by} LIMIT {p} OFFSET {p}"
    page_params = [*join_params, *params, q.limit, q.offset]
    if not filtered(q):  # the whole table: counting its smallest index is cheap
        return page_sql, page_params, "SELECT count(*) FROM runs", []
    # Filtered: count at most up to a cap, so a broad filter over a huge store stays fast.
    count_sql = f"SELECT count(*) FROM (SELECT 1 FROM runs {join}{clause}LIMIT {p}) AS matching"
    return page_sql, page_params, count_sql, [*join_params, *params, count_cap(q) + 1]


def filtered(q: RunQuery) -> bool:
    """Whether ``q`` narrows the runs (its count is then capped)."""
    narrowing = (
        q.ids,
        q.workflow,
        q.status,
        q.planner,
        q.seed,
        q.tag,
        q.created_after,
        q.created_before,
        q.parent_id,
        q.relation,
        q.verdict,
        q.metric,
    )
    return any(value is not None for value in narrowing)


def count_cap(q: RunQuery) -> int:
    """Counts of filtered runs stop here (a page shows "N+" beyond it)."""
    return max(COUNT_CAP, q.offset + q.limit * 20)
