"""An SVG picture of a run's trace, laid out here in Python (no Graphviz or other binary).

Layout, chosen to stay readable from 5 steps to a few hundred:

* one row per step, top to bottom in trace order (the order *is* the trace: hash chain),
  with a short grey arrow from each step to the next;
* a step's outputs are chips on its row, right of the box (name, digest, codec, size);
* data flow runs in the left gutter: each producing step owns a vertical "bus" from its row
  down to its last consumer, with an arrow into every consumer labelled with the artifact
  names it takes. Buses are packed on tracks like an arc diagram (shortest innermost), so
  the gutter grows with how many data flows overlap, not with the number of steps;
* recovery arcs (dashed blue) run between the box and the chips, from the recovering step
  back up to the failed step;
* a fork gets a band around the inherited steps and a fork row where it branches from the
  parent, with a ghost box for the way the parent went on.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape as _escape
from xml.sax.saxutils import quoteattr as _quoteattr

from reprolam.provenance._model import (
    RunGraph,
    StepNode,
    clip,
    human_size,
    to_json,
    utc,
    xml_safe,
)

FONT = "DejaVu Sans Mono, Menlo, Consolas, monospace"
CHAR = 0.6  # width of a monospace glyph, in em
MAX_TOOLTIP_PARAMS = 2000  # characters of params in a step's tooltip (the value is in the record)
COLORS = {  # category -> (fill, stroke)
    "succeeded": ("#e8f5e9", "#2e7d32"),
    "recovery": ("#e3f2fd", "#1565c0"),
    "failed": ("#ffebee", "#c62828"),
    "rejected": ("#fff3e0", "#ef6c00"),
    "decision": ("#f3e5f5", "#6a1b9a"),
    "started": ("#fffde7", "#9e9d24"),
}
INHERITED_FILL = "#eceff1"
INHERITED_STROKE = "#78909c"
SEQUENCE = "#9e9e9e"
RECOVERY = "#1565c0"
BUS_COLORS = ("#00796b", "#5d4037", "#3949ab", "#ad1457", "#558b2f", "#6d4c41", "#0277bd")
LEGEND = (
    ("succeeded", "succeeded"),
    ("recovery", "recovery step"),
    ("failed", "failed"),
    ("rejected", "rejected proposal"),
    ("decision", "planner decision failed"),
    ("started", "no completion"),
)

ROW, BOX_H, BOX_W = 70, 52, 330
LABEL_W, TRACK_W, MAX_TRACKS_W = 126, 12, 300
FORK_H = 70
MAX_CHIPS = 4


@dataclass(frozen=True, slots=True)
class _Bus:
    producer: int  # position (row) of the producing step
    consumers: tuple[tuple[int, str], ...]  # (row, artifact names) per consumer
    track: int = 0

    @property
    def end(self) -> int:
        return max(row for row, _ in self.consumers)


def render_svg(graph: RunGraph) -> str:
    return _Picture(graph).render()


class _Picture:
    def __init__(self, graph: RunGraph) -> None:
        self.g = graph
        self.pos = {s.index: i for i, s in enumerate(graph.steps)}
        fork = graph.fork
        self.fork_row = sum(1 for s in graph.steps if s.inherited) if fork else None
        self.buses = _pack(self._buses())
        tracks = 1 + max((b.track for b in self.buses), default=-1)
        self.track_w = min(TRACK_W, MAX_TRACKS_W / tracks) if tracks else TRACK_W
        self.box_x = 20 + tracks * self.track_w + LABEL_W
        self.rec_w = 46 if graph.recoveries else 14
        self.chip_x = self.box_x + BOX_W + self.rec_w
        self.top = 0.0  # set by the header, which knows how many legend rows it needs
        self.out: list[str] = []

    # -- geometry -------------------------------------------------------------------------------

    def row_y(self, row: int) -> float:
        extra = FORK_H if self.fork_row is not None and row >= self.fork_row else 0
        return self.top + row * ROW + extra

    def _buses(self) -> list[_Bus]:
        consumers: dict[int, list[tuple[int, str]]] = {}
        for dep in self.g.dependencies:
            p, c = self.pos[dep.producer], self.pos[dep.consumer]
            consumers.setdefault(p, []).append((c, ", ".join(dep.names)))
        return [_Bus(p, tuple(sorted(cs))) for p, cs in sorted(consumers.items())]

    # -- drawing --------------------------------------------------------------------------------

    def render(self) -> str:
        g = self.g
        width = max(self.chip_x + self._chips_width() + 20, 860)
        header = self._header(width)
        n = len(g.steps)
        height = self.row_y(n) + 20  # row_y(n) already counts the fork row, wherever it is
        out = self.out
        out.append(
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="{FONT}" '
            f'class="reprolam-trace" data-run={quoteattr(g.run.id)}>'
        )
        out.append(f"<title>{escape(f'reprolam run {g.run.id}')}</title>")
        out.append(f'<rect width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>')
        out.extend(header)
        self._fork_band()
        for bus in self.buses:
            self._bus(bus)
        for a, b in zip(g.steps, g.steps[1:], strict=False):
            self._sequence(self.pos[a.index], self.pos[b.index])
        for step in g.steps:
            self._step(step)
        for recovering, failed in g.recoveries:
            self._recovery(self.pos[recovering], self.pos[failed])
        self._fork_row(width)
        out.append("</svg>")
        return "\n".join(out) + "\n"

    def _header(self, width: float) -> list[str]:
        g, run = self.g, self.g.run
        parts = [
            f"planner {run.planner.get('name', '?')}",
            f"{len(g.steps)} steps",
            f"started {utc(run.created_at):%Y-%m-%d %H:%M:%S} UTC",
            f"host {run.host or '?'}",
        ]
        lines = [
            '<g id="header">',
            _text(
                16,
                24,
                g.headline,
                size=14,
                weight="bold",
            ),
            _text(16, 42, " · ".join(parts), size=11, fill="#555555"),
        ]
        items: list[tuple[str, float]] = []
        for category, label in LEGEND:
            fill, stroke = COLORS[category]
            items.append((_swatch(fill, stroke, "", label, category), 34 + len(label) * 6.6))
        items.append(
            (_swatch(INHERITED_FILL, INHERITED_STROKE, "5 3", "inherited (fork)", "inherited"), 150)
        )
        items.append((_line_sample(SEQUENCE, "", "next step", True), 110))
        items.append((_line_sample(BUS_COLORS[0], "", "data: artifact names", True), 190))
        items.append((_line_sample(RECOVERY, "5 3", "recovers from", True), 140))
        x, y = 16.0, 60.0
        lines.append('<g id="legend">')
        for item, w in items:
            if x + w > width - 10:
                x, y = 16.0, y + 20
            lines.append(f'<g transform="translate({x:.1f},{y:.1f})">{item}</g>')
            x += w
        lines += ["</g>", "</g>"]
        self.top = y + 34 + (14 if self.fork_row else 0)  # room for the band's label
        return lines

    def _fork_band(self) -> None:
        fork = self.g.fork
        if fork is None or not self.fork_row:
            return
        y0 = self.row_y(0) - 8
        y1 = self.row_y(self.fork_row - 1) + BOX_H + 8
        x0, x1 = self.box_x - 10, self.box_x + BOX_W + 10
        self.out.append(
            f'<g id="inherited-band" class="inherited-band">'
            f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{x1 - x0:.1f}" height="{y1 - y0:.1f}" '
            f'rx="8" fill="#f5f7f8" stroke="{INHERITED_STROKE}" stroke-dasharray="6 4"/>'
            + _text(
                x0 + 2,
                y0 - 5,
                f"inherited by reference from run {fork.parent.id} (steps 0–{fork.index - 1})",
                size=10,
                fill=INHERITED_STROKE,
            )
            + "</g>"
        )

    def _fork_row(self, width: float) -> None:
        fork = self.g.fork
        if fork is None or self.fork_row is None:
            return
        row_top = self.row_y(self.fork_row) - FORK_H
        mid = row_top + FORK_H / 2 - 4
        out = self.out
        out.append('<g id="fork-point" class="fork">')
        out.append(
            f'<line x1="10" y1="{mid:.1f}" x2="{width - 10:.1f}" y2="{mid:.1f}" '
            f'stroke="{INHERITED_STROKE}" stroke-width="1.5" stroke-dasharray="8 4"/>'
        )
        out.append(
            _text(
                12,
                mid - 6,
                f"fork at step {fork.index}: run {self.g.run.id} branches from {fork.parent.id}",
                size=11,
                weight="bold",
                fill="#37474f",
                halo=True,
            )
        )
        cont = self.g.continuation
        if cont:
            text = f"parent went on: #{cont[0].index} {cont[0].action or cont[0].kind.value}"
            if len(cont) > 1:
                text += f" … ({len(cont)} steps)"
        else:
            text = "parent ended here"
        gx, gy = self.chip_x, mid + 6
        gw = len(text) * 10 * CHAR + 16
        out.append(
            f'<g id="parent-continuation"><rect x="{gx:.1f}" y="{gy:.1f}" width="{gw:.1f}" '
            f'height="24" rx="5" fill="#ffffff" stroke="{INHERITED_STROKE}" '
            f'stroke-dasharray="4 3"/>'
            + _text(gx + 8, gy + 16, text, size=10, fill="#546e7a")
            + "</g>"
        )
        if self.fork_row > 0:
            sx = self.box_x + BOX_W * 0.75
            sy = self.row_y(self.fork_row - 1) + BOX_H
            out.append(
                f'<path d="M{sx:.1f},{sy:.1f} C{sx:.1f},{gy + 12:.1f} {gx - 40:.1f},{gy + 12:.1f} '
                f'{gx - 2:.1f},{gy + 12:.1f}" fill="none" stroke="{INHERITED_STROKE}" '
                f'stroke-width="1.3" stroke-dasharray="4 3"/>'
                + _arrow(gx - 1, gy + 12, "right", INHERITED_STROKE)
            )
        out.append("</g>")

    def _sequence(self, a: int, b: int) -> None:
        x = self.box_x + BOX_W / 2
        y1, y2 = self.row_y(a) + BOX_H, self.row_y(b)
        self.out.append(
            f'<g class="edge next"><line x1="{x:.1f}" y1="{y1:.1f}" x2="{x:.1f}" '
            f'y2="{y2 - 4:.1f}" stroke="{SEQUENCE}" stroke-width="1.2"/>'
            f"{_arrow(x, y2, 'down', SEQUENCE)}</g>"
        )

    def _bus(self, bus: _Bus) -> None:
        color = BUS_COLORS[bus.producer % len(BUS_COLORS)]
        x = self.box_x - LABEL_W - 8 - bus.track * self.track_w
        start_y = self.row_y(bus.producer) + BOX_H - 7
        ticks = [(row, names, self._tick_y(row, bus.producer)) for row, names in bus.consumers]
        end_y = max(y for _, _, y in ticks)
        out = self.out
        out.append(f'<g class="edge data" data-from="{self.g.steps[bus.producer].index}">')
        out.append(
            f'<path d="M{self.box_x:.1f},{start_y:.1f} H{x:.1f} V{end_y:.1f}" fill="none" '
            f'stroke="{color}" stroke-width="1.4"/>'
            f'<circle cx="{self.box_x:.1f}" cy="{start_y:.1f}" r="2.5" fill="{color}"/>'
        )
        for row, names, y in ticks:
            label = _fit(names, LABEL_W - 8, 9)
            out.append(
                f'<g class="use" data-to="{self.g.steps[row].index}">'
                f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{self.box_x - 5:.1f}" y2="{y:.1f}" '
                f'stroke="{color}" stroke-width="1.4"/>{_arrow(self.box_x - 1, y, "right", color)}'
                + _text(self.box_x - 8, y - 3, label, size=9, fill=color, anchor="end", halo=True)
                + f"<title>{escape(names)}</title></g>"
            )
        out.append("</g>")

    def _tick_y(self, row: int, producer: int) -> float:
        """Where a producer's arrow enters a consumer: stacked in the box's upper part."""
        producers = sorted(
            {b.producer for b in self.buses if any(r == row for r, _ in b.consumers)}
        )
        k, n = producers.index(producer), len(producers)
        spacing = min(13.0, (BOX_H - 22) / max(n - 1, 1))
        return self.row_y(row) + 12 + k * spacing

    def _recovery(self, recovering: int, failed: int) -> None:
        x = self.box_x + BOX_W
        y1 = self.row_y(recovering) + BOX_H / 2
        y2 = self.row_y(failed) + BOX_H / 2 + 6
        bulge = x + min(self.rec_w - 6, 16 + 5 * abs(recovering - failed))
        self.out.append(
            f'<g class="edge recovery" data-from="{self.g.steps[recovering].index}" '
            f'data-to="{self.g.steps[failed].index}">'
            f'<path d="M{x:.1f},{y1:.1f} C{bulge:.1f},{y1:.1f} {bulge:.1f},{y2:.1f} '
            f'{x + 5:.1f},{y2:.1f}" fill="none" stroke="{RECOVERY}" stroke-width="1.6" '
            f'stroke-dasharray="5 3"/>{_arrow(x + 1, y2, "left", RECOVERY)}'
            f"<title>step {self.g.steps[recovering].index} recovers from failed step "
            f"{self.g.steps[failed].index}</title></g>"
        )

    def _step(self, step: StepNode) -> None:
        r = step.record
        row = self.pos[step.index]
        x, y = self.box_x, self.row_y(row)
        fill, stroke = COLORS[step.category]
        dash = ""
        if step.inherited:
            fill, dash = INHERITED_FILL, ' stroke-dasharray="5 3"'
        width = 2.4 if step.category in ("failed", "recovery") else 1.5
        detail = ("↳ inherited · " if step.inherited else "") + step.detail
        duration = _duration(r.duration) if step.executed else ""  # proposals never ran
        title_room = BOX_W - 20 - (len(duration) + 1) * 10 * CHAR
        out = self.out
        out.append(
            f'<g id="step-{step.index}" class="{" ".join(("step", *step.classes))}" '
            f'data-index="{step.index}" data-run={quoteattr(step.run_id)}>'
            f"<title>{escape(_tooltip(step))}</title>"
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{BOX_W}" height="{BOX_H}" rx="6" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="{width}"{dash}/>'
            + _text(x + 10, y + 18, _fit(step.title, title_room, 12), size=12, weight="bold")
            + _text(x + BOX_W - 10, y + 18, duration, size=10, fill="#666666", anchor="end")
            + _text(
                x + 10,
                y + 39,
                _fit(detail, BOX_W - 20, 10),
                size=10,
                fill=stroke if r.error else "#444444",
            )
        )
        out.append("</g>")
        self._chips(step, y)

    def _chips(self, step: StepNode, y: float) -> None:
        outputs = list(step.record.outputs.items())
        x = self.chip_x
        for name, key in outputs[:MAX_CHIPS]:
            art = self.g.artifacts[key]
            text = _chip_text(name, key, art.codec, art.size)
            w = len(text) * 10 * CHAR + 14
            self.out.append(
                f'<g class="artifact" id="artifact-{step.index}-{_safe(name)}" '
                f"data-digest={quoteattr(key)}>"
                f"<title>{escape(f'{name} = {key} ({art.codec})')}</title>"
                f'<rect x="{x:.1f}" y="{y + 15:.1f}" width="{w:.1f}" height="22" rx="11" '
                f'fill="#fafafa" stroke="#9e9e9e"/>'
                + _text(x + 7, y + 30, text, size=10, fill="#333333")
                + "</g>"
            )
            x += w + 6
        if len(outputs) > MAX_CHIPS:
            self.out.append(_text(x + 2, y + 30, f"+{len(outputs) - MAX_CHIPS} more", size=10))

    def _chips_width(self) -> float:
        widest = 0.0
        for step in self.g.steps:
            items = list(step.record.outputs.items())
            total = sum(
                len(_chip_text(n, k, self.g.artifacts[k].codec, self.g.artifacts[k].size))
                * 10
                * CHAR
                + 20
                for n, k in items[:MAX_CHIPS]
            )
            widest = max(widest, total + (70 if len(items) > MAX_CHIPS else 0))
        return max(widest, 320 if self.g.fork is not None else 0)  # the parent's ghost box


def _pack(buses: list[_Bus]) -> list[_Bus]:
    """Give each bus the innermost track free over its rows, shortest buses first."""
    placed: list[_Bus] = []
    for bus in sorted(buses, key=lambda b: (b.end - b.producer, b.producer)):
        track = 0
        while any(
            p.track == track and not (p.end <= bus.producer or bus.end <= p.producer)
            for p in placed
        ):
            track += 1
        placed.append(_Bus(bus.producer, bus.consumers, track))
    return sorted(placed, key=lambda b: b.producer)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    ms = seconds * 1000
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.2f} ms" if ms >= 0.01 else "<0.01 ms"


def _chip_text(name: str, key: str, codec: str, size: int | None) -> str:
    return f"{_fit(name, 120, 10)} {key[:8]} {codec or '?'} {human_size(size)}"


def _tooltip(step: StepNode) -> str:
    r = step.record
    lines = [f"step {r.index} ({r.kind.value}, {r.status.value}) of run {r.run_id}"]
    if r.action:
        lines.append(f"action {r.action} v{r.action_version} fingerprint {r.fingerprint[:16]}")
    if r.params:
        lines.append(f"params {clip(to_json(r.params), MAX_TOOLTIP_PARAMS)}")
    if r.seed is not None:
        lines.append(f"seed {r.seed}")
    if r.error:
        lines.append(f"{r.error.type}: {r.error.message}")
    if r.hash:
        lines.append(f"hash {r.hash}")
    return "\n".join(lines)


def _fit(text: str, width: float, size: float) -> str:
    room = int(width / (size * CHAR))
    return text if len(text) <= room else text[: max(room - 1, 1)] + "…"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def _text(
    x: float,
    y: float,
    text: str,
    *,
    size: float,
    fill: str = "#222222",
    weight: str = "normal",
    anchor: str = "start",
    halo: bool = False,
) -> str:
    if not text:
        return ""
    extra = ' stroke="#ffffff" stroke-width="3" paint-order="stroke"' if halo else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{fill}" '
        f'font-weight="{weight}" text-anchor="{anchor}"{extra}>{escape(text)}</text>'
    )


def _arrow(x: float, y: float, direction: str, color: str) -> str:
    """A small filled arrowhead whose tip is at (x, y)."""
    d = {"down": (0, -1), "right": (-1, 0), "left": (1, 0)}[direction]
    bx, by = x + d[0] * 7, y + d[1] * 7  # base centre, 7px behind the tip
    px, py = -d[1] * 3.5, d[0] * 3.5  # half the base, perpendicular
    return (
        f'<polygon points="{x:.1f},{y:.1f} {bx + px:.1f},{by + py:.1f} '
        f'{bx - px:.1f},{by - py:.1f}" fill="{color}"/>'
    )


def _swatch(fill: str, stroke: str, dash: str, label: str, category: str) -> str:
    dashed = f' stroke-dasharray="{dash}"' if dash else ""
    return (
        f'<g class="legend-item {category}"><rect x="0" y="-10" width="22" height="14" rx="3" '
        f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"{dashed}/>'
        + _text(28, 1, label, size=11)
        + "</g>"
    )


def _line_sample(color: str, dash: str, label: str, arrow: bool) -> str:
    dashed = f' stroke-dasharray="{dash}"' if dash else ""
    head = _arrow(26, -3, "right", color) if arrow else ""
    return (
        f'<g class="legend-item line"><line x1="0" y1="-3" x2="22" y2="-3" stroke="{color}" '
        f'stroke-width="1.6"{dashed}/>{head}' + _text(32, 1, label, size=11) + "</g>"
    )


def escape(text: str) -> str:
    """XML-escaped, and without the characters XML cannot carry (control characters)."""
    return _escape(xml_safe(text))


def quoteattr(text: str) -> str:
    return _quoteattr(xml_safe(text))
