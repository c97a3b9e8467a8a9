"""The ``pickle`` codec: the last resort, for values no canonical codec can represent.

Its bytes are NOT guaranteed stable: pickle output can change with the Python version,
the library versions of the pickled classes, and (for some objects) memoisation or set
order. A run whose artifacts fall back to pickle is still recorded, but its hashes are a
weaker reproducibility proof than the canonical codecs'. Loading a pickle can execute
arbitrary code, so ``decode`` refuses unless the caller trusts the store.
"""

from __future__ import annotations

import io
import pickle
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from reprolam.codecs._scalars import defined_where
from reprolam.errors import CodecError

PROTOCOL = 5
# How a value no codec takes may still be stored; the end of the OutputError its step records
# (in Python's spelling, so the CLI shows it with its flag: ``reprolam.cli.render``).
OPT_IN = "opt in to pickle with {trusted=True}"
UNTRUSTED_MESSAGE = (
    "artifact is a pickle; loading it could execute code; load the store with "
    "{trusted=True} only if you trust it"
)


class PickleCodec:
    """Anything picklable; decoding requires a trusted serializer."""

    tag = "pickle"
    requires_trust = True
    trust_aware = True
    # Accepts (nearly) everything, so codecs registered later go before it.
    catch_all = True

    def can_encode(self, value: Any) -> bool:
        try:
            pickle.dumps(value, protocol=PROTOCOL)
        except Exception:  # pickling can raise anything from a user's __reduce__
            return False
        return True

    def try_encode(self, value: Any) -> bytes | None:
        try:
            return pickle.dumps(value, protocol=PROTOCOL)
        except Exception:
            return None

    def encode(self, value: Any) -> bytes:
        try:
            return pickle.dumps(value, protocol=PROTOCOL)
        except Exception as exc:
            raise CodecError(f"pickle codec cannot encode {type(value).__name__}: {exc}") from exc

    def decode(self, data: bytes, *, trusted: bool = False) -> Any:
        if not trusted:
            raise CodecError(UNTRUSTED_MESSAGE)
        try:
            return _Unpickler(io.BytesIO(data)).load()
        except Exception as exc:
            missing = getattr(exc, "name", None) if isinstance(exc, ImportError) else None
            if isinstance(exc, _NotInModule):
                missing = exc.module
            raise CodecError(
                f"pickle artifact cannot be loaded: {_kind(exc)}: {exc}"
                + (defined_where(missing) if isinstance(missing, str) else "")
            ) from exc


class _NotInModule(AttributeError):
    """A pickled class or function its module does not hold here (a class of the script that
    stored it, read by another program: both are ``__main__``)."""

    def __init__(self, message: str, module: str) -> None:
        super().__init__(message)
        self.module = module


class _Unpickler(pickle.Unpickler):
    """pickle's loader, saying which module lacked a name (pickle says it only in prose)."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return super().find_class(module, name)
        except AttributeError as exc:
            found = _in_script_file(name) if module == "__main__" else None
            if found is not None:
                return found
            raise _NotInModule(str(exc), module) from exc


# Modules standing in for the ``__main__`` of the script that stored a value, innermost last
_MAIN_STAND_INS: list[types.ModuleType] = []
_SCRIPTS_LOADED: list[types.ModuleType] = []  # by stand_in_for_main, the latest last


@contextmanager
def main_stands_in(module: types.ModuleType) -> Iterator[None]:
    """While inside, a pickled ``__main__.X`` that this ``__main__`` lacks is looked up in
    ``module``: the script that stored it, loaded by path (``replay --workflow
    analysis.py``), where its ``if __name__ == "__main__":`` block does not run."""
    _MAIN_STAND_INS.append(module)
    try:
        yield
    finally:
        _MAIN_STAND_INS.remove(module)


def stand_in_for_main(module: types.ModuleType) -> None:
    """From now on (in this process), ``module`` stands in for ``__main__`` as
    ``main_stands_in`` has it do while inside: the script a run being forked, resumed or
    reproduced was recorded by, loaded by path; the latest one given is looked in first."""
    if module in _SCRIPTS_LOADED:
        _SCRIPTS_LOADED.remove(module)
    _SCRIPTS_LOADED.append(module)


def _in_script_file(qualname: str) -> Any:
    """``qualname`` as the module standing in for the script's ``__main__`` defines it."""
    for module in [*reversed(_MAIN_STAND_INS), *reversed(_SCRIPTS_LOADED)]:
        value: Any = module
        for part in qualname.split("."):
            value = getattr(value, part, None)
        if value is not None:
            return value
    return None


def _kind(exc: Exception) -> str:
    return "AttributeError" if isinstance(exc, _NotInModule) else type(exc).__name__
