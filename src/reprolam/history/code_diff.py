"""Why two runs differ: what changed in their code, and which environment changes matter.

Both come from what the runs recorded (``engine.code_capture``'s manifest and the
environment snapshot): a unified diff of each changed action and helper, the changed
modules, constants and git state; and the environment differences ranked with the packages
the (diverging) actions import first, the rest collapsed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from reprolam.engine.environment import (
    distributions_of,
    imports_of,
    installed_packages,
    with_requirements,
)
from reprolam.engine.environment import (
    packages_distributions as _packages_distributions,  # noqa: F401  (tests clear its cache)
)
from reprolam.hashing import canonical_json
from reprolam.trace.contract import TraceStore
from reprolam.trace.stored_json import load_json

# Environment keys that the code diff explains better than a pair of digests
_CODE_KEYS = re.compile(r"^(code|workflow\.actions\.[^.]+\.fingerprint)$")


@dataclass(frozen=True, slots=True)
class CodeChange:
    kind: str  # action | helper | constant | module | git
    name: str  # the action's name, the unit's module:qualname, the module, ...
    diff: str = ""  # unified diff, recorded (a) -> current (b)
    used_by: tuple[str, ...] = ()  # actions that reach a changed helper or constant
    summary: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        used = f" (reached by {', '.join(self.used_by)})" if self.used_by else ""
        text = f"{self.kind} {self.name}{used}"
        return f"{text}: {self.summary}" if self.summary else text


def code_manifest(store: TraceStore, environment: dict[str, Any]) -> dict[str, Any]:
    """The code manifest a run recorded ({} for runs recorded before code capture)."""
    key = environment.get("code")
    return load_json(store, key) if isinstance(key, str) else {}


def code_changes(
    a: dict[str, Any], b: dict[str, Any], sides: tuple[str, str] = ("recorded", "current")
) -> list[CodeChange]:
    """What changed from manifest ``a`` to manifest ``b``, actions first; ``sides`` name
    them in the diffs (a reproduction: recorded -> current; two runs: a -> b)."""
    if not a or not b:
        return []
    b = _in_modules_of(a, b)
    units_a, units_b = a.get("units", {}), b.get("units", {})
    action_of = {
        info["unit"]: name
        for manifest in (a, b)
        for name, info in manifest.get("actions", {}).items()
    }
    users = _users(a) | _users(b)
    changes: list[CodeChange] = []
    for key in sorted(units_a.keys() | units_b.keys(), key=lambda k: (k not in action_of, k)):
        ua, ub = units_a.get(key), units_b.get(key)
        if ua is not None and ub is not None and ua.get("digest") == ub.get("digest"):
            continue
        if key not in action_of and not users.get(key):
            continue  # a unit neither side's actions reach
        source_a = (ua or {}).get("source") or ""
        source_b = (ub or {}).get("source") or ""
        summary = "added" if ua is None else "removed" if ub is None else "changed"
        if ua is not None and ub is not None and not (source_a and source_b):
            summary = "changed (source unavailable, bytecode differs)"
            edited = [
                s for s, u in zip(sides, (ua, ub), strict=True) if u.get("changed_since_import")
            ]
            if edited:  # its file was edited after import: the text then was not what ran
                summary = (
                    f"changed ({' and '.join(edited)}: its file was edited after it was "
                    "imported, so only its bytecode is known)"
                )
        changes.append(
            CodeChange(
                kind="action" if key in action_of else "helper",
                name=action_of.get(key, key),
                diff=unified(source_a, source_b, key, sides),
                used_by=() if key in action_of else tuple(sorted(users.get(key, ()))),
                summary=summary,
            )
        )
    # constants (literals) and values (tables, regexes, arrays, ... described), compared as
    # canonical JSON: a NaN is the same NaN
    consts_a = {**a.get("constants", {}), **a.get("values", {})}
    consts_b = {**b.get("constants", {}), **b.get("values", {})}
    for key in sorted(consts_a.keys() | consts_b.keys()):
        if canonical_json(consts_a.get(key)) != canonical_json(consts_b.get(key)) and users.get(
            key
        ):
            changes.append(
                CodeChange(
                    "constant",
                    key,
                    used_by=tuple(sorted(users[key])),
                    summary=f"{consts_a.get(key)!r} -> {consts_b.get(key)!r}",
                )
            )
    mods_a, mods_b = a.get("modules", {}), b.get("modules", {})
    for name in sorted(mods_a.keys() & mods_b.keys()):
        if mods_a[name].get("interactive") or mods_b[name].get("interactive"):
            continue  # no file: its units (above) are what it is made of
        if set(mods_a[name].get("sources", {}).values()) != set(
            mods_b[name].get("sources", {}).values()
        ):
            changes.append(CodeChange("module", name, summary="source changed"))
    changes += _git_changes(a.get("git"), b.get("git"))
    return changes


def _in_modules_of(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Manifest ``b`` with its modules named as in ``a`` where both name one module twice.

    The same file is ``__main__`` when run as a script and ``reprolam_user_workflow_NAME``
    when the CLI loads it (or another name from another working directory): its units must
    pair up, or unchanged code reads as every action removed and added again. A module of
    ``b`` is renamed when it holds an action with the qualname that action has in ``a``, or
    when it was loaded from the same file.
    """
    renamed: dict[str, str] = {}
    files_a = {
        info.get("file"): name for name, info in a.get("modules", {}).items() if info.get("file")
    }
    for name, info in b.get("modules", {}).items():
        if info.get("file") in files_a and name not in a.get("modules", {}):
            renamed[name] = files_a[info["file"]]
    units_a, units_b = a.get("units", {}), b.get("units", {})
    for action, info in b.get("actions", {}).items():
        ua = units_a.get(a.get("actions", {}).get(action, {}).get("unit")) or {}
        ub = units_b.get(info.get("unit")) or {}
        module_a, module_b = ua.get("module"), ub.get("module")
        if (
            isinstance(module_a, str)
            and isinstance(module_b, str)
            and module_a != module_b
            and ua.get("qualname") == ub.get("qualname")
            and module_b not in a.get("modules", {})
        ):
            renamed.setdefault(module_b, module_a)
    if not renamed:
        return b

    def key(text: str) -> str:
        module, colon, rest = text.partition(":")
        return f"{renamed.get(module, module)}{colon}{rest}"

    actions = {
        name: {
            **info,
            "unit": key(info.get("unit", "")),
            "reaches": [key(k) for k in info.get("reaches", [])],
            "constants": [key(k) for k in info.get("constants", [])],
            "values": [key(k) for k in info.get("values", [])],
        }
        for name, info in b.get("actions", {}).items()
    }
    return {
        **b,
        "actions": actions,
        "units": {key(k): v for k, v in units_b.items()},
        "constants": {key(k): v for k, v in b.get("constants", {}).items()},
        "values": {key(k): v for k, v in b.get("values", {}).items()},
        "modules": {renamed.get(k, k): v for k, v in b.get("modules", {}).items()},
    }


def _users(manifest: dict[str, Any]) -> dict[str, set[str]]:
    """Unit or constant -> the actions that reach it."""
    found: dict[str, set[str]] = {}
    for name, info in manifest.get("actions", {}).items():
        for key in [*info.get("reaches", []), *info.get("constants", []), *info.get("values", [])]:
            found.setdefault(key, set()).add(name)
    return found


def _git_changes(a: Any, b: Any) -> list[CodeChange]:
    if not isinstance(a, dict) or not isinstance(b, dict):
        return []
    found = []
    if a.get("commit") != b.get("commit"):
        commits = f"{a.get('commit')} -> {b.get('commit')}"
        found.append(CodeChange("git", "commit", summary=commits))
    if a.get("diff_digest") != b.get("diff_digest"):
        found.append(CodeChange("git", "uncommitted changes", summary="the diff differs"))
    return found


def unified(a: str, b: str, name: str, sides: tuple[str, str] = ("recorded", "current")) -> str:
    lines = difflib.unified_diff(
        a.splitlines(keepends=True),
        b.splitlines(keepends=True),
        fromfile=f"{sides[0]}/{name}",
        tofile=f"{sides[1]}/{name}",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


# -- environment ranking ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RankedEnvironment:
    """Environment differences: those the actions' imports make relevant, then the rest."""

    relevant: list[str] = field(default_factory=list)  # keys, most relevant first
    system: list[str] = field(default_factory=list)  # python, platform, BLAS threads, cpu, ...
    other_packages: list[str] = field(default_factory=list)  # collapsed when shown

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rank_environment(
    changes: dict[str, tuple[Any, Any]],
    manifests: Sequence[dict[str, Any]],
    actions: Iterable[str] | None = None,
) -> RankedEnvironment:
    """Rank environment differences by what ``actions`` (None: all) import.

    An action imports what its own module and the modules of the user code it reaches import
    (the manifest's ``modules.*.imports``, top-level import names), mapped to distributions.
    """
    wanted = set(actions) if actions is not None else None
    imported: set[str] = set()
    for manifest in manifests:
        for name in manifest.get("actions", {}):
            if wanted is None or name in wanted:
                imported |= imports_of(manifest, name)
    # and what they require (scikit-learn's scipy computes its results too)
    distributions = distributions_of(imported)
    distributions |= with_requirements(distributions, installed_packages())
    ranked = RankedEnvironment()
    for key in changes:
        if _CODE_KEYS.match(key):
            continue
        if key.startswith("packages.") or key.startswith("conda.packages."):
            name = key.rpartition(".")[2]
            (ranked.relevant if name in distributions else ranked.other_packages).append(key)
        else:
            ranked.system.append(key)
    return ranked
