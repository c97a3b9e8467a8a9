"""Value-tree nodes for the standard library's data types and for importable functions.

Each type has an exact encoding (no float round trips, no locale, no hash order):

- ``datetime`` / ``time``: naive ISO text + ``fold`` + the time zone (``None``, a fixed
  offset as ``datetime.timezone``'s own constructor args, or an IANA ``zoneinfo`` key);
  other tzinfo classes (pytz, dateutil) are refused by name: their offsets are not data.
- ``date``: ISO text; ``timedelta``: ``[days, seconds, microseconds]``;
  ``Decimal``: ``str`` (keeps precision, exponent, sign of zero, NaN/sNaN);
  ``UUID``: hex; pure and concrete ``pathlib`` paths: flavour + text;
  ``complex``: ``[real, imag]``; ints beyond JSON's digit limit: signed hex.
- functions: ``"module:qualname"`` of a NumPy ufunc or a module-level function that
  resolves to itself (no lambdas, no closures). An untrusted store may only name NumPy's
  top-level functions and ufuncs, ``scipy.special``, scikit-learn and ``math``: a crafted
  artifact must not hand an estimator ``os.system`` to call on data. Anything else (your
  own ``mymodule:log_transform``) loads from a trusted store; the engine trusts the
  values it has just encoded itself, so runs and reproductions are not affected.
"""

from __future__ import annotations

import datetime as dt
import decimal
import importlib
import pathlib
import sys
import types
import uuid
from typing import Any

import numpy as np

from reprolam.errors import CodecError


class Unrepresentable(Exception):
    """Raised while encoding: this value has no canonical tree encoding."""


_SAFE_FUNCTION_MODULES = ("numpy", "scipy.special", "math")
_PATH_TYPES: dict[str, type[pathlib.PurePath]] = {
    "posix": pathlib.PosixPath,
    "windows": pathlib.WindowsPath,
    "pureposix": pathlib.PurePosixPath,
    "purewindows": pathlib.PureWindowsPath,
}
_PATH_NAMES = {cls: name for name, cls in _PATH_TYPES.items()}
# np.mean and friends are ``numpy._ArrayFunctionDispatcher`` objects, not plain functions.
_FUNCTION_TYPES = frozenset(
    {types.FunctionType, types.BuiltinFunctionType, np.ufunc, type(np.mean)}
)


def _tz_node(tz: dt.tzinfo | None) -> Any:
    if tz is None:
        return None
    if type(tz) is dt.timezone:
        offset, *name = tz.__getinitargs__()  # type: ignore[attr-defined]
        return {"offset": [offset.days, offset.seconds, offset.microseconds], "name": name}
    key = getattr(tz, "key", None)
    if type(tz).__module__ == "zoneinfo" and type(key) is str:
        return {"zone": key}
    raise Unrepresentable(
        f"time zone {type(tz).__module__}.{type(tz).__qualname__} is not data "
        "(use zoneinfo.ZoneInfo or datetime.timezone)"
    )


def _tz_from(node: Any) -> dt.tzinfo | None:
    if node is None:
        return None
    if "zone" in node:
        import zoneinfo

        return zoneinfo.ZoneInfo(str(node["zone"]))
    days, seconds, micros = node["offset"]
    offset = dt.timedelta(days=days, seconds=seconds, microseconds=micros)
    return dt.timezone(offset, *[str(n) for n in node["name"]])


def _function_path(fn: Any) -> str:
    if isinstance(fn, np.ufunc):
        name = str(fn.__name__)
        if getattr(np, name, None) is not fn:
            raise Unrepresentable(f"ufunc {name} is not numpy.{name}")
        return f"numpy:{name}"
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if not isinstance(module, str) or "<" in qualname or not qualname:
        raise Unrepresentable(f"function {qualname or fn!r} is a lambda or local function")
    path = f"{module}:{qualname}"
    try:
        found: Any = sys.modules[module]
        for part in qualname.split("."):
            found = getattr(found, part)
    except (KeyError, AttributeError):
        found = None
    if found is not fn:
        raise Unrepresentable(f"function {path} is not importable under its own name")
    return path


# reprolam.workflows.registry names a workflow file's module so (codecs import no workflows)
_WORKFLOW_FILE_MODULE = "reprolam_user_workflow_"


def defined_where(module_name: str) -> str:
    """Why code of a workflow file or a script (a function, a pickled object's class) is
    not found here, and the fix; "" for any other module."""
    if module_name == "__main__":
        return (
            "; it was defined in the script that stored it (run as __main__), and this "
            "program's __main__ is another: fork, resume and reproduce load that script, and "
            "replay with {workflow=SCRIPT.py}; to load the value anywhere, define that code "
            "in an installed module"
        )
    if not module_name.startswith(_WORKFLOW_FILE_MODULE):
        return ""
    file = f"{module_name.removeprefix(_WORKFLOW_FILE_MODULE)}.py"
    loaders = f"fork, resume and reproduce load it, and replay with {{workflow={file}}}"
    return (
        f"; it was defined in the workflow file {file}, which only a process running that "
        "workflow imports "
        f"({loaders}): to load the value anywhere, define that code in an installed module"
    )


def _in_script(module_name: str, qualname: str) -> Any:
    """A function of the script that stored the value (named ``__main__:f``), as the file
    standing in for it defines it (``replay --workflow analysis.py``, a fork, a
    reproduction: ``codecs._pickle.stand_in_for_main``); None without one."""
    if module_name not in ("__main__", "__mp_main__"):
        return None
    from reprolam.codecs._pickle import _in_script_file

    return _in_script_file(qualname)


def function_from(path: Any, *, trusted: bool, what: str) -> Any:
    module_name, sep, qualname = str(path).partition(":")
    parts = qualname.split(".")
    if not sep or any(not p or p.startswith("__") for p in parts):
        raise CodecError(f"{what} names an invalid function path {str(path)[:80]!r}")
    safe = module_name in _SAFE_FUNCTION_MODULES or module_name.startswith("sklearn.")
    if not (trusted or safe):
        raise CodecError(
            f"{what} names function {path!r}; an untrusted store may only name NumPy, "
            "scipy.special, scikit-learn and math functions: open the store with "
            "{trusted=True} if you trust it"
        )
    try:
        found: Any = importlib.import_module(module_name)
        for part in parts:
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        found = _in_script(module_name, qualname)
        if found is not None and callable(found) and not isinstance(found, type):
            return found
        raise CodecError(
            f"{what} names function {path!r}, which cannot be found: {exc}"
            + defined_where(module_name)
        ) from exc
    if not callable(found) or isinstance(found, type):
        raise CodecError(f"{what} names {path!r}, which is not a function")
    return found


def encode_scalar(value: Any) -> Any:
    """The node of a standard-library value, or None if ``value`` is none of these types."""
    kind = type(value)
    if kind is dt.datetime:
        naive = value.replace(tzinfo=None).isoformat()
        return {"$datetime": {"iso": naive, "fold": value.fold, "tz": _tz_node(value.tzinfo)}}
    if kind is dt.date:
        return {"$date": value.isoformat()}
    if kind is dt.time:
        naive = value.replace(tzinfo=None).isoformat()
        return {"$time": {"iso": naive, "fold": value.fold, "tz": _tz_node(value.tzinfo)}}
    if kind is dt.timedelta:
        return {"$timedelta": [value.days, value.seconds, value.microseconds]}
    if kind is decimal.Decimal:
        return {"$decimal": str(value)}
    if kind is uuid.UUID:
        return {"$uuid": value.hex}
    if kind in _PATH_NAMES:
        return {"$path": [_PATH_NAMES[kind], str(value)]}
    if kind is complex:
        return {"$complex": [value.real, value.imag]}
    if kind is int:  # only big ones reach here
        return {"$bigint": format(value, "x")}
    if kind is bytearray:
        return {"$bytearray": value.hex()}
    if kind in _FUNCTION_TYPES:
        return {"$function": _function_path(value)}
    return None


def _datetime(body: Any) -> dt.datetime:
    naive = dt.datetime.fromisoformat(str(body["iso"]))
    return naive.replace(tzinfo=_tz_from(body["tz"]), fold=int(body["fold"]))


def _time(body: Any) -> dt.time:
    naive = dt.time.fromisoformat(str(body["iso"]))
    return naive.replace(tzinfo=_tz_from(body["tz"]), fold=int(body["fold"]))


def _timedelta(body: Any) -> dt.timedelta:
    days, seconds, micros = body
    return dt.timedelta(days=days, seconds=seconds, microseconds=micros)


def _path(body: Any) -> pathlib.PurePath:
    flavour, text = body
    cls = _PATH_TYPES.get(str(flavour))
    if cls is None:
        raise CodecError(f"unknown path flavour {str(flavour)[:40]!r}")
    if cls is pathlib.WindowsPath and sys.platform != "win32":
        cls = pathlib.PureWindowsPath  # cannot instantiate a concrete Windows path here
    elif cls is pathlib.PosixPath and sys.platform == "win32":
        cls = pathlib.PurePosixPath
    return cls(str(text))


def _bigint(body: Any) -> int:
    text = str(body)
    if len(text) > 1_000_000:
        raise CodecError("integer node is larger than 4 Mbit")
    return int(text, 16)


SCALAR_DECODERS: dict[str, Any] = {
    "$datetime": _datetime,
    "$date": lambda b: dt.date.fromisoformat(str(b)),
    "$time": _time,
    "$timedelta": _timedelta,
    "$decimal": lambda b: decimal.Decimal(str(b)),
    "$uuid": lambda b: uuid.UUID(hex=str(b)),
    "$path": _path,
    "$complex": lambda b: complex(float(b[0]), float(b[1])),
    "$bigint": _bigint,
    "$bytearray": lambda b: bytearray.fromhex(str(b)),
}
