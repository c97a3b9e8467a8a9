"""User code a stored value names instead of holding: checked before its consumer is reused.

A pickle holds a function or a class by module and name (``helpers:myfunc``), and so does a
scikit-learn model's ``$function`` node (``FunctionTransformer(myfunc)``): the artifact's
bytes, and so its digest, stay the same when ``myfunc``'s code changes. A step that takes
such a value as input calls that code, yet its cache key (action, code fingerprint, params,
input digests, seed) does not cover it. Before such a step is reused, the code its inputs
name is compared with the code manifest of the run that computed its outputs: a change (or
code that run did not record, which cannot be checked) makes the step execute.

Only artifacts of the codecs that can name code are read (``pickle``, ``model``, ``tree``),
and only when a step would be reused: recording a step is not touched.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterator
from typing import Any

from reprolam.codecs._container import unpack
from reprolam.errors import ReprolamError

NAMING_CODECS = frozenset({"pickle", "model", "tree"})
_STRINGS = frozenset(
    {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING", "BINSTRING",
     "SHORT_BINSTRING"}
)  # fmt: skip
_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
_GETS = frozenset({"GET", "BINGET", "LONG_BINGET"})
_NAMED = frozenset({"GLOBAL", "INST"})  # "module name" as the op's argument


def named_in(codec: str, data: bytes) -> list[str]:
    """The ``module:qualname`` of each function or class the artifact names, sorted."""
    try:
        if codec == "pickle":
            return sorted(set(_pickled_globals(data)))
        if codec in ("model", "tree"):
            return sorted(set(_functions(unpack(data)[0])))
    except (ReprolamError, ValueError, EOFError):  # not what its codec wrote: nothing named
        return []
    return []


def _pickled_globals(data: bytes) -> Iterator[str]:
    """The globals a pickle loads (``GLOBAL``, ``STACK_GLOBAL``: the two strings pushed just
    before it, maybe from the memo), without loading it."""
    import pickletools

    memo: dict[int, Any] = {}
    last: tuple[Any, Any] = (None, None)  # the values of the last two pushes, when strings
    for op, arg, _ in pickletools.genops(data):
        name = op.name
        if name == "MEMOIZE":
            memo[len(memo)] = last[1]
            continue
        if name in _PUTS and isinstance(arg, int):
            memo[arg] = last[1]
            continue
        if name in ("FRAME", "PROTO"):
            continue
        pushed = None
        if name in _STRINGS and isinstance(arg, str):
            pushed = arg
        elif name in _GETS and isinstance(arg, int):
            pushed = memo.get(arg)
        elif name in _NAMED and isinstance(arg, str):
            module, _, qualname = arg.partition(" ")
            yield f"{module}:{qualname}"
        elif name == "STACK_GLOBAL" and all(isinstance(v, str) for v in last):
            yield f"{last[0]}:{last[1]}"
        last = (last[1], pushed)


def _functions(node: Any) -> Iterator[str]:
    """The ``$function`` paths in a model's or a tree's header."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            path = item.get("$function")
            if isinstance(path, str):
                yield path
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def resolve(path: str) -> Any | None:
    """The object ``module:qualname`` names in this process, None if none: its module is
    looked up among those imported (a pickle of the script run as ``__main__`` in the
    script's file loaded by path, as loading the pickle would)."""
    from reprolam.codecs._pickle import _in_script_file

    module_name, _, qualname = path.partition(":")
    found: Any = sys.modules.get(module_name) or _user_module(module_name)
    for part in qualname.split("."):
        found = getattr(found, part, None) if found is not None else None
    if found is None and module_name in ("__main__", "__mp_main__"):
        found = _in_script_file(qualname)
    return found


def _user_module(name: str) -> Any | None:
    """Module ``name`` of the user's code, imported (as loading the value would), or None
    for one that is not the user's or cannot be found."""
    from reprolam.engine.code_capture import _is_user_path

    if name in ("__main__", "__mp_main__"):
        return None
    try:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
        if not isinstance(origin, str) or not _is_user_path(origin):
            return None
        return importlib.import_module(name)
    except Exception:  # its code failed to import: loading the value fails the same way
        return None
