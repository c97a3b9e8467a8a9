"""Whether the source a file shows now is the code a function runs.

``inspect.getsource`` reads the file as it is on disk, while a function runs the code its
module compiled when it was imported: a helper edited after ``import`` (in a notebook's
kernel, without a reload) shows the new text and runs the old. A function is checked against
what its file compiles to now (by qualified name and first line, bytecode and constants)
only when the file was written after this process started (its modification or change time):
no other file can have changed since its import, so the usual run compiles nothing.
"""

from __future__ import annotations

import ast
import dis
import enum
import os
import types
from collections.abc import Iterator
from functools import cache, lru_cache
from typing import Any

from reprolam.actions import code_text


def runs_its_source(obj: Any, file: str | None) -> bool:
    """False when ``obj`` (a function, a code object or a class, by its methods) is not
    what ``file`` compiles to now: the file changed since the code was imported."""
    codes = list(_codes_of(obj, file))
    if file is None or not (codes or isinstance(obj, type)):
        return True
    try:
        stat = os.stat(file)
    except OSError:  # no such file (a notebook cell's name): nothing to compare with
        return True
    # the change time too: a file put back with an old modification time (``cp -p``, an
    # archive unpacked, ``os.utime``) still changed when it was written
    if max(stat.st_mtime, stat.st_ctime) < _process_start() - 1:  # start: whole seconds
        return True
    compiled = _compiled(file, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size)
    if compiled is None:  # it does not compile now: not what runs
        return False
    for code in codes:
        current = compiled.get((code.co_qualname, code.co_firstlineno))
        if current is None or code_text(current) != code_text(code):
            return False
    if not _defaults_hold(obj, file, stat.st_mtime_ns, stat.st_size):
        return False
    return not isinstance(obj, type) or _class_constants_hold(obj, compiled)


def _defaults_hold(obj: Any, file: str, mtime_ns: int, size: int) -> bool:
    """Whether the literal defaults the file gives a function now (``k=2``), or each method
    of a class, are what it holds: defaults are not in the function's code."""
    functions = [obj] if isinstance(obj, types.FunctionType) else []
    if isinstance(obj, type):
        functions = [
            member
            for value in vars(obj).values()
            if isinstance(member := getattr(value, "__func__", value), types.FunctionType)
            and member.__code__.co_filename == file
        ]
    if not any(f.__defaults__ or f.__kwdefaults__ for f in functions):
        return True
    written = _literal_defaults(file, mtime_ns, size)
    for function in functions:
        code = function.__code__
        found = written.get((code.co_name, code.co_firstlineno))
        if found is None:
            continue  # compiled (and compared) above; its defaults are not plain literals
        positional, keywords = found
        held = function.__defaults__ or ()
        if len(positional) != len(held) or set(keywords) - set(function.__kwdefaults__ or {}):
            return False
        live = function.__kwdefaults__ or {}
        pairs = [*zip(positional, held, strict=True), *((v, live[k]) for k, v in keywords.items())]
        # a mutable default (a list) may have been changed by the calls since: not compared
        if any(type(w) in _LITERAL_TYPES and (type(w) is not type(h) or w != h) for w, h in pairs):
            return False
    return True


@lru_cache(maxsize=32)
def _literal_defaults(
    file: str, mtime_ns: int, size: int
) -> dict[tuple[str, int], tuple[list[Any], dict[str, Any]]]:
    """Each function the file defines now, by name and first line (its first decorator's):
    its positional defaults and keyword-only ones, each as the literal it is (_NOTHING for
    an expression)."""
    del mtime_ns, size  # the cache key
    try:
        with open(file, "rb") as source:
            tree = ast.parse(source.read(), file)
    except (OSError, SyntaxError, ValueError):
        return {}
    found: dict[tuple[str, int], tuple[list[Any], dict[str, Any]]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            arguments = node.args
            keywords = {
                a.arg: _literal(d)
                for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)
                if d is not None
            }
            found[(node.name, first)] = ([_literal(d) for d in arguments.defaults], keywords)
    return found


def _literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _NOTHING


def _class_constants_hold(cls: type, compiled: dict[tuple[str, int], types.CodeType]) -> bool:
    """Whether the literals a class body of the file assigns now (``FACTOR = 2``) are what
    the class holds: an edited class attribute changes no method's code."""
    bodies = [code for (qualname, _), code in compiled.items() if qualname == cls.__qualname__]
    return not bodies or any(_assigned_literals(body, cls) for body in bodies)


def _assigned_literals(body: types.CodeType, cls: type) -> bool:
    held = vars(cls)
    loaded: Any = _NOTHING
    for instruction in dis.get_instructions(body):
        name = str(instruction.argval)
        dunder = name.startswith("__") and name.endswith("__")  # __qualname__: type() takes it
        if instruction.opname == "STORE_NAME" and loaded is not _NOTHING and not dunder:
            value = _as_assigned(cls, instruction.argval, held.get(instruction.argval, _NOTHING))
            # a name the class took out of its namespace (a pydantic field's default) holds
            # nothing to compare
            if value is not _NOTHING and (type(value) is not type(loaded) or value != loaded):
                return False
        loaded = instruction.argval if instruction.opname == "LOAD_CONST" else _NOTHING
    return True


_NOTHING = object()


def _as_assigned(cls: type, name: str, value: Any) -> Any:
    """What the class body assigned to ``name``, for a value the class made of it: an enum's
    member (``RED = 1``) holds its ``_value_``; a field's default (``k: int = 1``) that a
    pydantic model, a slotted dataclass or a NamedTuple moved out of the namespace (or
    replaced by a descriptor) is read where the class keeps it; _NOTHING when not known."""
    if isinstance(value, enum.Enum):
        return value._value_
    if type(value) in _LITERAL_TYPES:
        return value
    return _field_default(cls, name)


_LITERAL_TYPES = frozenset({int, float, complex, str, bytes, bool, type(None), tuple, frozenset})


def _field_default(cls: type, name: str) -> Any:
    pydantic = getattr(cls, "__pydantic_fields__", None)
    dataclass = getattr(cls, "__dataclass_fields__", None)
    for fields in (pydantic, dataclass):
        field = fields.get(name) if isinstance(fields, dict) else None
        default = getattr(field, "default", _NOTHING)
        if field is not None and type(default) in _LITERAL_TYPES:
            return default
    defaults = getattr(cls, "_field_defaults", None)  # a NamedTuple's
    if isinstance(defaults, dict) and name in defaults:
        return defaults[name]
    return _NOTHING


def _codes_of(obj: Any, file: str | None) -> Iterator[types.CodeType]:
    """The code objects of ``obj``: its own, or a class's methods written in ``file``."""
    if isinstance(obj, types.CodeType):
        yield obj
    elif isinstance(obj, types.FunctionType):
        yield obj.__code__
    elif isinstance(obj, type):
        for value in vars(obj).values():
            member = getattr(value, "__func__", value)  # staticmethod, classmethod
            functions = (member.fget, member.fset) if isinstance(member, property) else (member,)
            for function in functions:
                code = getattr(function, "__code__", None)
                if isinstance(code, types.CodeType) and code.co_filename == file:
                    yield code


@lru_cache(maxsize=32)
def _compiled(
    file: str, mtime_ns: int, ctime_ns: int, size: int
) -> dict[tuple[str, int], types.CodeType] | None:
    """Every code object ``file`` compiles to, by qualified name and first line (None: the
    file cannot be read or compiled). Keyed by its size and times: compiled once per version."""
    del mtime_ns, ctime_ns, size  # the cache key
    try:
        with open(file, "rb") as source:
            module = compile(source.read(), file, "exec", dont_inherit=True)
    except (OSError, SyntaxError, ValueError):
        return None
    found: dict[tuple[str, int], types.CodeType] = {}
    stack = [module]
    while stack:
        code = stack.pop()
        found[(code.co_qualname, code.co_firstlineno)] = code
        stack += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    return found


@cache
def _process_start() -> float:
    """When this process started (seconds since the epoch; 0 where Linux's /proc is not)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as stat:
            ticks = int(stat.read().rpartition(")")[2].split()[19])  # field 22, starttime
        with open("/proc/stat", encoding="ascii") as system:
            boot = next(int(line.split()[1]) for line in system if line.startswith("btime"))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return 0.0
