"""Environment variables an action reads itself: a dependency, made visible like a file read.

An action (or a helper of the user's) that reads ``os.environ["THRESHOLD"]`` or
``os.getenv("DEBUG")`` computes from a value the engine was not handed: run again with
another value, the same action, params, inputs and seed give other outputs. ``engine.observe``
sees the read (``os.environ`` lookups made by the user's own code while an action is watched)
and records it as an ``env_read`` effect whose target is ``$NAME`` and whose state is the
digest of the value read (``digest``), or ``missing`` when the variable was not set (reading
``os.environ.get("DEBUG")`` depends on its absence too). ``--reuse`` checks that state again
and executes the step when the value changed; ``reproduce`` names the variable.

Not recorded: lookups by the Python installation, installed packages and reprolam itself
(``HOME`` read by ``os.path.expanduser``, ``OMP_NUM_THREADS`` read by a library: the
environment, not the action's data), lookups while a module is being imported, and
variables the action set itself before reading them. The value of a variable whose name
looks like a secret (``*KEY*``, ``*TOKEN*``, ``*SECRET*``, ``*PASSWORD*``, ...) is not
hashed: only whether it was set is recorded, so a digest in a shared trace cannot be
matched against guesses.

Code that goes through the whole environment (``dict(os.environ)``, ``{**os.environ}``,
``os.environ.copy()``, ``items()``, iterating its names, ``len(os.environ)``) read all of
it: one ``env_read`` effect, target ``$*`` (``WHOLE``), whose state is the digest of every
variable's name and value (a secret's name only) and how many there are (``variables``),
less those the action set itself before (``excluding``); the lookups after it are covered
by it. A change to any variable is a change of what it read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

PREFIX = "$"  # an env_read effect's target: "$NAME"
WHOLE = "*"  # the name in the target of a read of the whole environment: "$*"
READ_FIX = "pass the value to the action as a param (a keyword-only argument) instead of reading it"
_SECRET = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH", re.IGNORECASE)


def target(name: str) -> str:
    return f"{PREFIX}{name}"


def env_state(name: str, excluding: Iterable[str] = ()) -> dict[str, Any]:
    """What variable ``name`` holds now, as an ``env_read`` effect records it (for
    ``WHOLE``, the whole environment but the variables ``excluding``)."""
    if name == WHOLE:
        return _whole_state(excluding)
    value = os.environ.get(name) if isinstance(name, str) else None
    if value is None:
        return {"missing": True}
    if _SECRET.search(name):
        return {"secret": True}  # set; its value is not recorded
    from reprolam.hashing import digest

    return {"digest": digest(value.encode("utf-8", "surrogateescape"))}


def _whole_state(excluding: Iterable[str]) -> dict[str, Any]:
    """The whole environment as one read: a digest of its names and values (a name that
    looks like a secret's, its name only), without the variables the action set itself."""
    from reprolam.hashing import canonical_json_bytes, digest

    left_out = set(excluding)
    pairs = [
        [name, None if _SECRET.search(name) else value]
        for name, value in sorted(os.environ.items())
        if name not in left_out
    ]
    state: dict[str, Any] = {"digest": digest(canonical_json_bytes(pairs)), "variables": len(pairs)}
    if left_out:
        state["excluding"] = sorted(left_out)
    return state


def excluded(effect: Mapping[str, Any]) -> list[str]:
    """The variables a recorded read of the whole environment left out (the action's own)."""
    names = effect.get("excluding")
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


def recorded_env_state(effect: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: effect[k]
        for k in ("digest", "missing", "secret", "variables", "excluding")
        if k in effect
    }


def env_change(effect: Mapping[str, Any], now: Mapping[str, Any] | None = None) -> str | None:
    """Why the variable a recorded ``env_read`` effect read no longer holds what was read, or
    None; ``now`` is its state as read again (by default, its value in this process)."""
    old = recorded_env_state(effect)
    if now is None:
        now = env_state(str(effect.get("target", "")).removeprefix(PREFIX), excluded(effect))
    if old == now:
        return None
    if "variables" in old:
        return (
            "the environment changed since the recorded run (a variable set, unset or "
            f"changed; {old['variables']} -> {now.get('variables', '?')} variables)"
        )
    if now.get("missing"):
        return "unset since the recorded run"
    if old.get("missing"):
        return "set since the recorded run (it was not set then)"
    if "digest" in old and "digest" in now:
        return (
            "value changed since the recorded run "
            f"(digest {str(old['digest'])[:12]} -> {str(now['digest'])[:12]})"
        )
    return "changed since the recorded run"


def describe_state(effect: Mapping[str, Any]) -> str:
    """`` [value blake3 8b20e98947c6]`` and the like, or '' for an effect of no state."""
    if "variables" in effect:
        return (
            f" [the whole environment: {effect['variables']} variables, "
            f"blake3 {str(effect.get('digest'))[:12]}]"
        )
    if "digest" in effect:
        return f" [value blake3 {str(effect['digest'])[:12]}]"
    if effect.get("missing"):
        return " [not set]"
    if effect.get("secret"):
        return " [set; value not recorded: the name looks like a secret]"
    return ""
