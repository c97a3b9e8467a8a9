"""DOT and Mermaid pictures of a run's trace: the SVG's information, for other renderers.

Graphviz and Mermaid lay graphs out themselves, so here artifacts are nodes of their own
(one per digest, as in PROV) between the steps that generate and use them; steps keep the
SVG's colours and classes, the next-step chain is dotted grey, recoveries dashed blue, and
inherited steps sit in a cluster / subgraph labelled with the parent they come from.
Consecutive failed attempts of one action (retries) are one node ("#3–#5 train_model
failed ×3"), so a run with many retries stays readable; the header says what the run is
(a reproduction: its verdict; a fork: what it changed, marked ``*`` on the steps).
"""

from __future__ import annotations

from itertools import pairwise

from reprolam.provenance._model import RunGraph, StepNode, human_size, xml_safe
from reprolam.provenance._svg import COLORS, INHERITED_FILL, INHERITED_STROKE, RECOVERY, SEQUENCE

_MAX_LABEL = 60
_LEGEND = (
    ("succeeded", "succeeded"),
    ("recovery", "recovery step"),
    ("failed", "failed"),
    ("rejected", "rejected proposal"),
    ("decision", "planner decision failed"),
    ("started", "no completion"),
    ("inherited", "inherited (fork)"),
)


def _short(text: str) -> str:
    return text if len(text) <= _MAX_LABEL else text[: _MAX_LABEL - 1] + "…"


def _colors(step: StepNode) -> tuple[str, str]:
    fill, stroke = COLORS[step.category]
    return (INHERITED_FILL, stroke) if step.inherited else (fill, stroke)


def _header(graph: RunGraph) -> str:
    return graph.headline


class _Units:
    """Steps as picture nodes: one per step, or one per run of failed retries."""

    def __init__(self, graph: RunGraph) -> None:
        self.groups = graph.attempt_groups()
        self.node = {s.index: f"s{group[0].index}" for group in self.groups for s in group}

    def pairs(self, pairs: list[tuple[int, int]]) -> list[tuple[str, str]]:
        """Step-index edges as node edges: duplicates and self-loops (within a group) dropped."""
        found = [(self.node[a], self.node[b]) for a, b in pairs]
        return [edge for edge in dict.fromkeys(found) if edge[0] != edge[1]]

    @staticmethod
    def title(group: tuple[StepNode, ...]) -> str:
        if len(group) == 1:
            return group[0].title
        first, last = group[0].record, group[-1].record
        return f"#{first.index}–#{last.index} {first.action} failed ×{len(group)}"

    @staticmethod
    def detail(group: tuple[StepNode, ...]) -> str:
        return group[-1].detail if len(group) == 1 else "last: " + group[-1].detail


def _continuation(graph: RunGraph) -> str:
    cont = graph.continuation
    if not cont:
        return "parent ended here"
    more = f" … ({len(cont)} steps)" if len(cont) > 1 else ""
    return f"parent went on: #{cont[0].index} {cont[0].action or cont[0].kind.value}{more}"


# -- DOT --------------------------------------------------------------------------------------


def _dq(text: str) -> str:
    """A DOT double-quoted string; newlines become centred line breaks."""
    text = xml_safe(text)  # control characters: visible pictures, not raw bytes
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def render_dot(graph: RunGraph) -> str:
    lines = [
        "digraph reprolam_trace {",
        f"  graph [rankdir=TB, labelloc=t, fontname=Helvetica, label={_dq(_header(graph))}];",
        "  node [fontname=Helvetica, fontsize=10];",
        "  edge [fontname=Helvetica, fontsize=9];",
    ]
    units = _Units(graph)
    inherited = [s for s in graph.steps if s.inherited]
    if graph.fork is not None:
        label = (
            f"inherited by reference from run {graph.fork.parent.id} "
            f"(steps 0–{graph.fork.index - 1})"
        )
        lines.append("  subgraph cluster_inherited {")
        lines.append(f"    label={_dq(label)}; style=dashed; color={_dq(INHERITED_STROKE)};")
        lines += [f"    {_dot_step(g)}" for g in units.groups if g[0].inherited]
        lines.append("  }")
    lines += [f"  {_dot_step(g)}" for g in units.groups if not g[0].inherited]
    for key, art in graph.artifacts.items():
        label = f"{art.label}\n{art.short} · {art.codec or '?'} · {human_size(art.size)}"
        lines.append(
            f"  a_{art.short} [id={_dq('artifact-' + art.short)}, class=artifact, shape=note, "
            f'style=filled, fillcolor="#fafafa", color="#9e9e9e", label={_dq(label)}, '
            f"tooltip={_dq(key)}];"
        )
    order = [g[0].index for g in units.groups]
    for a, b in units.pairs(list(pairwise(order))):
        lines.append(f'  {a} -> {b} [class=next, style=dotted, color="{SEQUENCE}", arrowsize=0.6];')
    for edge in graph.generated:
        art = graph.artifacts[edge.digest]
        node = units.node[edge.index]
        lines.append(f"  {node} -> a_{art.short} [class=generated, label={_dq(edge.name)}];")
    used = {(graph.artifacts[e.digest].short, units.node[e.index], e.name) for e in graph.used}
    for short, node, name in sorted(used, key=lambda u: (int(u[1][1:]), u[2])):
        lines.append(f"  a_{short} -> {node} [class=used, label={_dq(name)}];")
    for recovering, failed in units.pairs(list(graph.recoveries)):
        lines.append(
            f'  {recovering} -> {failed} [class=recovery, style=dashed, color="{RECOVERY}", '
            f'fontcolor="{RECOVERY}", label="recovers", constraint=false];'
        )
    if graph.fork is not None:
        lines.append(
            f'  parent_continuation [id="parent-continuation", shape=box, style=dashed, '
            f"color={_dq(INHERITED_STROKE)}, label={_dq(_continuation(graph))}];"
        )
        if inherited:
            lines.append(
                f"  {units.node[inherited[-1].index]} -> parent_continuation [style=dashed, "
                f'color={_dq(INHERITED_STROKE)}, label="parent"];'
            )
    lines.append("  subgraph cluster_legend {")
    lines.append('    label="legend"; style=rounded; color="#bdbdbd"; fontsize=10;')
    for category, text in _LEGEND:
        fill, stroke = (
            (INHERITED_FILL, INHERITED_STROKE) if category == "inherited" else (COLORS[category])
        )
        style = "filled,rounded,dashed" if category == "inherited" else "filled,rounded"
        lines.append(
            f"    legend_{category} [shape=box, style={_dq(style)}, fillcolor={_dq(fill)}, "
            f"color={_dq(stroke)}, label={_dq(text)}];"
        )
    lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_step(group: tuple[StepNode, ...]) -> str:
    step = group[0]
    fill, stroke = _colors(step)
    style = "filled,rounded,dashed" if step.inherited else "filled,rounded"
    width = 2.2 if step.category in ("failed", "recovery") else 1.2
    label = f"{_Units.title(group)}\n{_short(_Units.detail(group))}"
    classes = " ".join((*step.classes, *(["attempts"] if len(group) > 1 else [])))
    return (
        f"s{step.index} [id={_dq(f'step-{step.index}')}, class={_dq(classes)}, "
        f"shape=box, style={_dq(style)}, fillcolor={_dq(fill)}, color={_dq(stroke)}, "
        f"penwidth={width}, label={_dq(label)}];"
    )


# -- Mermaid ----------------------------------------------------------------------------------


def _mq(text: str) -> str:
    """Mermaid label text inside double quotes: entity codes for what Mermaid would parse."""
    text = xml_safe(text).replace("\r\n", "\n").replace("\r", "\n")
    for char, code in (
        ("#", "#35;"),
        ('"', "#quot;"),
        ("<", "#lt;"),
        (">", "#gt;"),
        ("\n", "<br/>"),  # a raw newline would end the statement (and start another)
    ):
        text = text.replace(char, code)
    return text


def render_mermaid(graph: RunGraph) -> str:
    # YAML front matter: no entity codes; nothing that ends the string or the line
    title = " ".join(xml_safe(_header(graph)).replace('"', "'").replace("\\", "/").split())
    lines = ["---", f'title: "{title}"', "---", "flowchart TD"]
    for category, (fill, stroke) in COLORS.items():
        lines.append(f"  classDef {category} fill:{fill},stroke:{stroke},color:#222")
    lines.append(f"  classDef inherited fill:{INHERITED_FILL},stroke-dasharray:5 3")
    lines.append("  classDef artifact fill:#fafafa,stroke:#9e9e9e,color:#333")
    lines.append(f"  classDef ghost fill:#fff,stroke:{INHERITED_STROKE},stroke-dasharray:4 3")
    units = _Units(graph)
    inherited = [s for s in graph.steps if s.inherited]
    if graph.fork is not None:
        label = (
            f"inherited by reference from run {graph.fork.parent.id} "
            f"(steps 0–{graph.fork.index - 1})"
        )
        lines.append(f'  subgraph inherited_steps["{_mq(label)}"]')
        lines += [f"    {_mermaid_step(g)}" for g in units.groups if g[0].inherited]
        lines.append("  end")
        lines.append(
            f"  style inherited_steps fill:#f5f7f8,stroke:{INHERITED_STROKE},stroke-dasharray:6 4"
        )
    lines += [f"  {_mermaid_step(g)}" for g in units.groups if not g[0].inherited]
    for group in units.groups:  # one class statement per class: Mermaid adds them up
        step = group[0]
        lines.append(f"  class s{step.index} {step.category}")
        if step.inherited:
            lines.append(f"  class s{step.index} inherited")
    for art in graph.artifacts.values():
        about = f"{art.short} · {art.codec or '?'} · {human_size(art.size)}"
        lines.append(f'  a_{art.short}[/"{_mq(art.label)}<br/>{_mq(about)}"/]')
        lines.append(f"  class a_{art.short} artifact")
    links: list[tuple[str, str | None]] = []  # (link line, linkStyle) in order: Mermaid numbers
    order = [g[0].index for g in units.groups]
    for a, b in units.pairs(list(pairwise(order))):
        links.append((f"{a} -.-> {b}", f"stroke:{SEQUENCE}"))
    for edge in graph.generated:
        node = units.node[edge.index]
        short = graph.artifacts[edge.digest].short
        links.append((f'{node} -->|"{_mq(edge.name)}"| a_{short}', None))
    used = dict.fromkeys(
        (graph.artifacts[e.digest].short, units.node[e.index], e.name) for e in graph.used
    )
    for short, node, name in used:
        links.append((f'a_{short} -->|"{_mq(name)}"| {node}', None))
    for recovering, failed in units.pairs(list(graph.recoveries)):
        links.append(
            (f"{recovering} -. recovers .-> {failed}", f"stroke:{RECOVERY},color:{RECOVERY}")
        )
    if graph.fork is not None:
        lines.append(f'  parent_continuation["{_mq(_continuation(graph))}"]')
        lines.append("  class parent_continuation ghost")
        if inherited:
            links.append(
                (
                    f"{units.node[inherited[-1].index]} -. parent .-> parent_continuation",
                    f"stroke:{INHERITED_STROKE}",
                )
            )
    for number, (link, style) in enumerate(links):
        lines.append(f"  {link}")
        if style:
            lines.append(f"  linkStyle {number} {style}")
    lines.append('  subgraph legend["legend"]')
    lines.append("    direction LR")
    for category, text in _LEGEND:
        lines.append(f'    legend_{category}["{_mq(text)}"]:::{category}')
    # Invisible links lay the legend out in one row; defined last, so the numbers the
    # linkStyle lines above refer to do not move.
    lines.append("    " + " ~~~ ".join(f"legend_{category}" for category, _ in _LEGEND))
    lines.append("  end")
    lines.append("  style legend fill:#ffffff,stroke:#bdbdbd")
    return "\n".join(lines) + "\n"


def _mermaid_step(group: tuple[StepNode, ...]) -> str:
    title, detail = _Units.title(group), _short(_Units.detail(group))
    return f's{group[0].index}["{_mq(title)}<br/>{_mq(detail)}"]'
