"""Command lines a page offers to copy: only cli/ speaks in flags (the UI borrows these)."""

from __future__ import annotations

import shlex

from reprolam.trace.records import RunRecord


def copyable_commands(run: RunRecord) -> list[tuple[str, str]]:
    """``(verb, command line)`` for what one does next with a run."""
    rid = shlex.quote(run.id)
    crate = shlex.quote(f"{run.id[:8]}.crate")
    return [
        ("show", f"reprolam show {rid}"),
        ("replay", f"reprolam replay {rid}"),
        ("reproduce", f"reprolam reproduce {rid}"),
        ("fork", f"reprolam fork {rid} --at STEP --set ACTION.PARAM=VALUE"),
        ("export", f"reprolam export {rid} --format rocrate -o {crate}"),
        ("get", f"reprolam get {rid} NAME -o PATH"),
        ("audit", f"reprolam audit {rid}"),
    ]
