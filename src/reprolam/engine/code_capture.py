"""The code a run executes: every action, and what it reaches in the user's own code.

An action's fingerprint used to cover its own source only, so a change to a helper it calls
went unexplained. Here each action is followed through its globals, closures, defaults and
the attributes it reads of user modules, transitively, to the functions and classes it
reaches in the user's code; the walk stops at installed packages and the standard library,
which the environment snapshot covers (by version). Module-level constants those functions
read (small literals, rebuildable) are covered too, and so is every other value they read:
a table, a regex, a numpy array, a pandas frame, a user object's state, a closure cell, a
default argument, an attribute reached through a user package (``pkg.sub.X``), each
described the same in any process (``describe``).

``capture_code`` returns a manifest (stored as a JSON artifact, its digest in the run's
environment snapshot) and the source texts to store content-addressed next to it:

* ``units``: each reached function or class with its source, by ``module:qualname``;
* ``actions``: each action's unit, what it reaches, and its fingerprint;
* ``constants`` (literals, by ``module:name``) and ``values`` (descriptions, by
  ``module:name`` or ``module:qualname#cell``): what the actions read;
* ``modules``: each user module's file, the digest of its whole source, the installed
  packages it imports, and, for interactive modules (a notebook, an ``exec``'d string), the
  bindings needed to define its code again (see ``history.code_rebuild``);
* ``git``: commit and digest of the uncommitted diff (the diff itself, size-capped, as an
  artifact) when the workflow's files live in a git work tree.
"""

from __future__ import annotations

import dis
import enum
import functools
import importlib.util
import inspect
import linecache
import os
import re
import subprocess
import sys
import sysconfig
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from reprolam import file_reads
from reprolam.actions import code_fingerprint, code_text, extension_file
from reprolam.engine.stale_code import runs_its_source
from reprolam.errors import ReprolamWarning, warn
from reprolam.hashing import canonical_json, canonical_json_bytes, digest
from reprolam.workflows.registry import Workflow, workflow_file_module

MANIFEST_VERSION = 1
DIFF_CAP = 256 * 1024  # bytes of uncommitted diff kept with a run
_CONSTANT_TYPES = (int, float, str, bool, type(None))
_MAX_UNITS = 500  # a walk that reaches more is stopped (and says so): a guard, not a limit
# Python refuses int -> decimal text past 4,300 digits (sys.set_int_max_str_digits), which
# JSON needs; an int this long (about 4,214 digits) is described by its hex digits instead.
_DECIMAL_INT_BITS = 14_000


@dataclass
class CodeCapture:
    manifest: dict[str, Any]
    sources: dict[str, bytes] = field(default_factory=dict)  # digest -> json bytes, to store
    fingerprints: dict[str, str] = field(default_factory=dict)  # action -> fingerprint


def capture_code(workflow: Workflow) -> CodeCapture:
    """What ``workflow``'s actions are made of; cheap enough to run once per run."""
    walk = _Walk({_module_of(spec.fn) for spec in workflow.actions})
    actions, fingerprints = _fingerprint_actions(walk, workflow.actions)
    modules, sources = walk.modules_record()
    manifest: dict[str, Any] = {
        "version": MANIFEST_VERSION,
        "workflow": {
            "name": workflow.name,
            "outputs": list(workflow.outputs),
            "goal": workflow.goal,
            "description": workflow.description,
            "metrics": workflow.metrics,
            "actions": [actions[spec.name]["unit"] for spec in workflow.actions],
        },
        "actions": actions,
        "units": walk.units,
        "constants": walk.constants,
        **({"values": walk.values} if walk.values else {}),
        "modules": modules,
    }
    if walk.truncated:
        manifest["truncated"] = True
    if walk.stale_files:
        _warn_stale(sorted(walk.stale_files))
    git = git_state([m.get("file") for m in modules.values()])
    if git is not None:
        diff_text = git.pop("diff_text", "")
        if diff_text:
            git["diff"] = keep_text(sources, diff_text)
        manifest["git"] = git
    return CodeCapture(manifest, sources, fingerprints)


def _warn_stale(files: list[str]) -> None:
    named = ", ".join(files)
    warn(
        ReprolamWarning(
            f"{named} changed since {'it was' if len(files) == 1 else 'they were'} imported: "
            "this run executes the code imported before, recorded by its bytecode (its "
            "source as it was is not known); reload the module (importlib.reload, and the "
            "modules that imported names from it) or restart the kernel to run the file as "
            "it is now"
        )
    )


def action_fingerprints(specs: Sequence[Any]) -> dict[str, str]:
    """Each action's fingerprint as ``capture_code`` records it for a workflow of ``specs``,
    without the manifest (a Dask worker checks that the code it imported is the run's)."""
    walk = _Walk({_module_of(spec.fn) for spec in specs})
    return _fingerprint_actions(walk, specs)[1]


def code_parts(objects: Sequence[Any]) -> dict[str, Any]:
    """What user functions and classes ``objects`` are made of, as a code manifest records
    them for an action that reaches them: each unit reached (``module:qualname``) -> its
    digest, each constant and value read -> what it is (``engine.named_code``). Objects
    outside the user's code are left out."""
    user = [o for o in objects if _is_user_module(_module_of(o))]
    walk = _Walk({_module_of(o) for o in user})
    parts: dict[str, Any] = {}
    for obj in user:
        key = walk.add(obj)
        reached = sorted(walk.reach(obj))
        for unit in reached:
            parts[unit] = walk.units[unit]["digest"] if unit in walk.units else _text_of(unit)
        parts.update((c, walk.constants[c]) for c in walk.constants_of(key, reached))
        parts.update((v, walk.values[v]) for v in walk.values_of(key, reached))
    return parts


def _fingerprint_actions(
    walk: _Walk, specs: Iterable[Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Each action's manifest entry (unit, what it reaches) and fingerprint."""
    actions: dict[str, Any] = {}
    fingerprints: dict[str, str] = {}
    main = _script_module_name()
    for spec in specs:
        key = walk.add(spec.fn)
        for declared in _param_code(spec, walk):  # the action is handed and runs them too
            walk.refs.setdefault(key, set()).add(walk.add(declared))
        reached = sorted(walk.reach(spec.fn) - {key})
        consts = sorted(walk.constants_of(key, reached))
        values = sorted(walk.values_of(key, reached))
        # a unit past the walk's guard (_MAX_UNITS) counts by its module's whole text
        parts = [(k, walk.units[k]["digest"] if k in walk.units else _text_of(k)) for k in reached]
        if key not in walk.units:
            parts.append((key, _text_of(key)))
        parts += [(c, walk.constants[c]) for c in consts]
        parts += [(v, walk.values[v]) for v in values]
        # Unchanged for an action that reaches nothing: old records stay comparable.
        fp = (
            digest(canonical_json_bytes([spec.fingerprint, _portable(parts, main)]))
            if parts
            else spec.fingerprint
        )
        fingerprints[spec.name] = fp
        actions[spec.name] = {
            "unit": key,
            "reaches": reached,
            "constants": consts,
            **({"values": values} if values else {}),
            "fingerprint": fp,
        }
    return actions, fingerprints


def _param_code(spec: Any, walk: _Walk) -> list[Any]:
    """The user classes and functions an action's params are declared with: a model the
    action is handed an instance of (``cfg: Cfg``, whose methods it calls), a validator
    (``Annotated[int, AfterValidator(clean)]``) that makes the value it is handed."""
    found: dict[str, Any] = {}
    declarations = getattr(spec, "param_declarations", None) or {}
    stack = [annotation for annotation, _ in declarations.values()]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        for candidate in (item, getattr(item, "func", None)):
            if (isinstance(candidate, type | types.FunctionType)) and walk._user_object(candidate):
                found[f"{_module_of(candidate)}:{candidate.__qualname__}"] = candidate
        stack.extend(typing.get_args(item))
        stack.extend(getattr(item, "__metadata__", ()))
    return [found[name] for name in sorted(found)]


def _script_module_name() -> str | None:
    """The name this process's ``__main__`` script would have loaded by path (``python
    analysis.py`` -> what ``analysis.py:flow`` loads, ``reprolam_user_workflow_analysis``);
    None when ``__main__`` is no script file (a notebook, ``python -``, the CLI)."""
    path = getattr(sys.modules.get("__main__"), "__file__", None)
    if not isinstance(path, str) or not path.endswith(".py"):
        return None
    return workflow_file_module(Path(path))


def _portable(value: Any, main: str | None) -> Any:
    """``value`` with each name in module ``__main__`` named as its script's file names it
    when loaded by path: one file's code has one fingerprint, run as a script or not (a fork
    of a script's run, which loads the file, reuses its unchanged steps)."""
    if main is None:
        return value
    if isinstance(value, str):
        # a worker process that multiprocessing spawned loads the script as __mp_main__
        module, colon, rest = value.partition(":")
        return f"{main}:{rest}" if colon and module in ("__main__", "__mp_main__") else value
    if isinstance(value, list | tuple):
        return [_portable(v, main) for v in value]
    if isinstance(value, dict):
        return {_portable(k, main): _portable(v, main) for k, v in value.items()}
    return value


class _Walk:
    """The transitive walk from actions into user code (functions, classes, constants)."""

    def __init__(self, action_modules: set[str]) -> None:
        self.action_modules = action_modules
        self.units: dict[str, dict[str, Any]] = {}
        self.constants: dict[str, Any] = {}
        self.refs: dict[str, set[str]] = {}  # unit -> units it references directly
        self.unit_constants: dict[str, set[str]] = {}
        # what else units read (tables, regexes, arrays, closure cells, ...), described
        self.values: dict[str, Any] = {}
        self.unit_values: dict[str, set[str]] = {}
        self.value_modules: set[str] = set()  # modules those values are read from
        self.objects: dict[str, Any] = {}
        self.keys: dict[int, str] = {}  # id of a unit's object -> its key
        self.bindings: dict[str, dict[str, str]] = {}  # module -> name -> "pkg.mod[:attr]"
        self.imports: dict[str, set[str]] = {}  # module -> top-level installed packages
        self.truncated = False
        self.stale_files: set[str] = set()  # files edited since the code was imported

    def is_user(self, module_name: str) -> bool:
        return module_name in self.action_modules or _is_user_module(module_name)

    def add(self, obj: Any, name: str | None = None) -> str:
        """Record ``obj`` (and everything it reaches) as a unit; its key.

        A lambda is keyed by the name it is bound to (``module:scale``); two objects of one
        qualname (functions a factory made, lambdas) get ``@2``, ``@3``, ... in walk order.
        A decorated function is keyed by the function it wraps (its source is what
        ``inspect`` shows); each wrapper of the user's around it (``functools.wraps``) is a
        unit it reaches, by the wrapper's own code: its body runs too.
        """
        wrappers = [w for w in _wrappers(obj) if self.is_user(_defined_in(w))]
        obj = _function_run_by(obj) or obj
        key = self._add_unit(inspect.unwrap(obj) if callable(obj) else obj, name)
        for wrapper in wrappers:
            self.refs.setdefault(key, set()).add(self._add_unit(wrapper, None, wrapper=True))
        for implementation in _dispatched(obj):  # @singledispatch: what f.register added
            if self._user_object(implementation):
                self.refs.setdefault(key, set()).add(self.add(implementation))
        return key

    def _add_unit(self, obj: Any, name: str | None, wrapper: bool = False) -> str:
        known = self.keys.get(id(obj))
        if known is not None:
            return known
        # a wrapper carries the qualname and module of what it wraps: its code names its own
        qualname = obj.__code__.co_qualname if wrapper else obj.__qualname__
        if qualname == "<lambda>" and name is not None:
            qualname = name
        module = _defined_in(obj) if wrapper else _module_of(obj)
        key = base = f"{module}:{qualname}"
        suffix = 1
        while key in self.units:
            suffix += 1
            key = f"{base}@{suffix}"
        if len(self.units) >= _MAX_UNITS:
            self.truncated = True
            return key
        self.keys[id(obj)] = key
        source, fingerprint, file, stale = _unit_source(obj.__code__ if wrapper else obj)
        self.units[key] = {
            "module": module,
            "qualname": qualname if wrapper else obj.__qualname__,
            "kind": "class" if isinstance(obj, type) else "function",
            "file": file,
            "source": source,
            "digest": fingerprint,
            **({"changed_since_import": True} if stale else {}),
        }
        if stale and file is not None:
            self.stale_files.add(file)
        self.objects[key] = obj
        self.refs[key] = set()
        self.unit_constants[key] = set()
        self.unit_values[key] = set()
        for ref, bound in self._references(obj, key):
            self.refs[key].add(self.add(ref, bound))
        return key

    def reach(self, fn: Any) -> set[str]:
        start = self.add(fn)
        seen, stack = {start}, [start]
        while stack:
            for ref in self.refs.get(stack.pop(), ()):
                if ref not in seen:
                    seen.add(ref)
                    stack.append(ref)
        return seen

    def constants_of(self, key: str, reached: list[str]) -> set[str]:
        found: set[str] = set()
        for unit in [key, *reached]:
            found |= self.unit_constants.get(unit, set())
        return found

    def values_of(self, key: str, reached: list[str]) -> set[str]:
        found: set[str] = set()
        for unit in [key, *reached]:
            found |= self.unit_values.get(unit, set())
        return found

    def _references(self, obj: Any, key: str) -> Iterator[tuple[Any, str | None]]:
        """The user functions and classes ``obj`` reaches (with the name bound to each);
        the constants and other values it reads are recorded on the way."""
        if isinstance(obj, type):
            if self._user_object(type(obj)):  # a metaclass of the user's: its __call__ runs
                yield type(obj), None
            for base in obj.__bases__:
                if self._user_object(base):
                    yield base, None
            for member in vars(obj).values():
                for value in _member_functions(member):
                    if self._user_object(value):
                        yield value, None
            return
        if not isinstance(obj, types.FunctionType):
            return
        code = obj.__code__
        names = sorted(set(_names(code)))  # sorted: the walk's order, so keys, are stable
        module_name = _module_of(obj)
        self._bind_imports(module_name, code, names)
        reads = _reads(obj, key, names)
        followed: set[tuple[str, str]] = set()
        for owner, bound, label, value in reads:  # grows as wrappers and modules are opened
            if isinstance(value, functools.partial | types.MethodType):
                # `scale3 = partial(scale, factor=3)`, `apply = Scaler().apply`: what they call
                # (and a partial's arguments) is code the action runs
                reads += [(owner, None, None, part) for part in _wrapped(value)]
                frozen = _partial_arguments(value)
                if label is not None and frozen is not None:
                    self._constant(key, owner, label, frozen)
                elif label is not None:
                    self._value(key, owner, label, value)
            elif isinstance(value, types.ModuleType):
                if self.is_user(value.__name__):  # helpers.clean, helpers.sub.X: follow
                    if label is not None and bound in _uses(code)[0]:
                        # `getattr(helpers, name)`, `run(helpers)`: any of its code may run
                        self._whole_module(key, owner, label, value)
                    for attr in names:
                        if hasattr(value, attr) and (value.__name__, attr) not in followed:
                            followed.add((value.__name__, attr))
                            self.value_modules.add(value.__name__)
                            found = (f"{value.__name__}:{attr}", getattr(value, attr))
                            reads.append((value.__name__, attr, *found))
                else:
                    self._bind(owner, bound, value.__name__)
                    yield from self._patched(value, names)
            elif self._user_object(value):
                yield value, bound
            elif not isinstance(value, type) and self._user_object(type(value)):
                yield type(value), None  # `SCALER = Scaler()` at module level: its class runs
                if label is not None:  # ... with the state it holds
                    self._value(key, owner, label, value)
            elif (
                label is not None
                and bound is not None  # a module-level name: rebuilt as such (code_rebuild)
                and isinstance(value, (*_CONSTANT_TYPES, tuple))
                and _jsonable(value)
            ):
                self._constant(key, owner, label, value)
            elif label is not None and self._value(key, owner, label, value):
                continue
            elif bound is not None and callable(value):
                yield from self._library_callable(owner, bound, value, names)

    def _library_callable(
        self, owner: str, bound: str, value: Any, names: list[str]
    ) -> Iterator[tuple[Any, str | None]]:
        """A library's function or class bound in ``owner``: a binding (code_rebuild); of a
        class, the user's functions set on it are followed (``Model.fit = my_fit``)."""
        qualname = getattr(value, "__qualname__", None)
        ref_module = getattr(value, "__module__", None)
        if isinstance(ref_module, str) and isinstance(qualname, str):
            self._bind(owner, bound, f"{ref_module}:{qualname}")
        if isinstance(value, type):
            yield from self._patched(value, names)

    def _patched(self, owner: Any, names: list[str]) -> Iterator[tuple[Any, str | None]]:
        """User functions and classes set as attributes of a library module or class the
        code reads (``math.sqrt = my_sqrt``, ``Model.fit = my_fit``: a monkeypatch):
        ``math.sqrt(x)`` runs the user's code. Read from the namespaces (the class's and its
        bases'), so a lazy module's ``__getattr__`` imports nothing."""
        owners = owner.__mro__ if isinstance(owner, type) else (owner,)
        spaces = [getattr(o, "__dict__", {}) for o in owners]
        for attr in names:
            for namespace in spaces:
                value = namespace.get(attr)
                value = getattr(value, "__func__", value)  # staticmethod, classmethod
                if value is not None and self._user_object(value):
                    yield value, None
                elif isinstance(value, type) and not isinstance(owner, type):
                    yield from self._patched(value, names)  # sklearn.linear_model.Model.fit

    def _bind_imports(self, module: str, code: types.CodeType, names: list[str]) -> None:
        """The installed packages a function imports inside itself (``import sklearn.svm``),
        also before its first call has imported them (the record must not depend on it)."""
        for name in names:
            if name in sys.modules and not self.is_user(name):
                self._bind(module, None, name)
        for name in _uses(code)[1]:
            if name not in sys.modules and _installed_package(name):
                self._bind(module, None, name)

    def _constant(self, key: str, owner: str, label: str, value: Any) -> None:
        self.constants[label] = value
        self.unit_constants[key].add(label)
        self.value_modules.add(owner)

    def _value(self, key: str, owner: str, label: str, value: Any) -> bool:
        """Record what ``value`` is (see ``describe``) under ``label``; False: not data."""
        nested: list[Any] = []
        found = describe(value, nested, self._user_object)
        if found is None:
            return False
        for ref in nested:  # functions in a table (`OPS = {"double": double}`) run too
            self.refs[key].add(self.add(ref))
        self.values[label] = found
        self.unit_values[key].add(label)
        self.value_modules.add(owner)
        return True

    def _whole_module(self, key: str, owner: str, label: str, module: types.ModuleType) -> None:
        """Record a user module that is used whole (handed on, or its attributes looked up
        by a name known only when the action runs): the digest of its whole text."""
        try:
            text = inspect.getsource(module)
        except (OSError, TypeError):  # no source (an interactive module): its units only
            return
        self.values[label] = {"module": module.__name__, "source": digest(text.encode())}
        self.unit_values[key].add(label)
        self.value_modules.add(owner)

    def _user_attr(self, module: types.ModuleType, name: str) -> bool:
        return self._user_object(getattr(module, name, None))

    def _user_object(self, value: Any) -> bool:
        """A function or class of the user's code; or a function of a compiled extension
        module of the user's (no source: ``code_fingerprint`` takes its module file)."""
        if isinstance(value, types.FunctionType | type):
            module = getattr(value, "__module__", None)
            return isinstance(module, str) and self.is_user(module)
        inner = _function_run_by(value)
        if inner is not None:  # @lru_cache, np.vectorize(f): ``add`` walks the function
            try:
                return self._user_object(inspect.unwrap(inner))
            except ValueError:  # a cycle of __wrapped__
                return False
        if not isinstance(value, types.BuiltinFunctionType) and not _compiled_function(value):
            return False
        module = getattr(value, "__module__", None)
        if not isinstance(module, str):
            return False
        return self.is_user(module) and extension_file(module) is not None

    def _bind(self, module: str, name: str | None, ref: str) -> None:
        top = ref.partition(":")[0].partition(".")[0]
        if top and top not in sys.stdlib_module_names and top not in ("builtins", "reprolam"):
            self.imports.setdefault(module, set()).add(top.lstrip("_") or top)
        if name is not None:
            self.bindings.setdefault(module, {})[name] = ref

    def modules_record(self) -> tuple[dict[str, Any], dict[str, bytes]]:
        modules: dict[str, Any] = {}
        sources: dict[str, bytes] = {}
        names = {u["module"] for u in self.units.values()} | self.action_modules
        names |= {m for m in self.value_modules if self.is_user(m)}
        for name in sorted(names):
            module = sys.modules.get(name)
            path = getattr(module, "__file__", None)
            # a namespace package (no __init__.py) has no file either, and is no notebook
            has_file = isinstance(path, str) and os.path.isfile(path)
            interactive = not has_file and not hasattr(module, "__path__")
            files = sorted({u["file"] for u in self.units.values() if u["module"] == name} - {None})
            record: dict[str, Any] = {
                "file": path if not interactive else None,
                "interactive": interactive,
                "imports": sorted(self.imports.get(name, set()) | _module_imports(module)),
            }
            record["sources"] = {}
            if has_file and path in self.stale_files:  # its text now is not what runs
                record["changed_since_import"] = True
                has_file = False
            for file in files if interactive else [str(path)] if has_file else []:
                text = "".join(linecache.getlines(file))
                if text:
                    record["sources"][file] = keep_text(sources, text)
            if interactive:
                bindings = {**self._namespace_bindings(name), **self.bindings.get(name, {})}
                record["bindings"] = dict(sorted(bindings.items()))
            modules[name] = record
        return modules, sources

    def _namespace_bindings(self, module: str) -> dict[str, str]:
        """What an interactive module's namespace imported (``np`` -> ``numpy``), by reference.

        Decorators and base classes are read when a cell runs, not from the functions' code,
        so the walk alone would miss e.g. ``action`` in ``@action(...)``.
        """
        scope = next(
            (
                o.__globals__
                for k, o in self.objects.items()
                if k.startswith(module + ":") and isinstance(o, types.FunctionType)
            ),
            {},
        )
        found: dict[str, str] = {}
        for alias, value in scope.items():
            if alias.startswith("__"):
                continue
            if isinstance(value, types.ModuleType):
                if not self.is_user(value.__name__):
                    found[alias] = value.__name__
                continue
            owner = getattr(value, "__module__", None)
            qualname = getattr(value, "__qualname__", None)
            if (
                isinstance(owner, str)
                and isinstance(qualname, str)
                and "<" not in qualname
                and owner != module
                and not self.is_user(owner)
            ):
                found[alias] = f"{owner}:{qualname}"
        return found


def _reads(
    obj: types.FunctionType, key: str, names: list[str]
) -> list[tuple[str, str | None, str | None, Any]]:
    """What function ``obj`` (unit ``key``) reads: (module it is read from, name bound to
    it there or None, label recording it, value) for its globals, closure cells, defaults."""
    code = obj.__code__
    module_name = _module_of(obj)
    scope = obj.__globals__
    reads: list[tuple[str, str | None, str | None, Any]] = [
        (module_name, n, f"{module_name}:{n}", scope[n]) for n in names if n in scope
    ]
    for free, cell in zip(code.co_freevars, obj.__closure__ or (), strict=False):
        try:  # a value a factory froze in the function: `make_action(3)`
            reads.append((module_name, None, f"{key}#{free}", cell.cell_contents))
        except ValueError:  # an empty cell
            continue
    positional = code.co_varnames[: code.co_argcount]
    defaults = obj.__defaults__ or ()
    for param, value in zip(positional[len(positional) - len(defaults) :], defaults, strict=True):
        reads.append((module_name, None, f"{key}#{param}", value))
    for param, value in sorted((obj.__kwdefaults__ or {}).items()):
        reads.append((module_name, None, f"{key}#{param}", value))
    return reads


def keep_text(sources: dict[str, bytes], text: str) -> str:
    """Queue ``text`` to be stored as a (json) artifact; its digest."""
    data = canonical_json_bytes(text)
    key = digest(data)
    sources[key] = data
    return key


# code object (functions) or class -> (source, digest, file, stale). A code object runs the
# same whatever its file says later, so its source is read once (tokenizing is most of the
# cost). By identity (equal code objects may come from different text); the object is held
# so that its id is not reused.
_SOURCES: dict[int, tuple[Any, tuple[str | None, str, str | None, bool]]] = {}


def _unit_source(obj: Any) -> tuple[str | None, str, str | None, bool]:
    """A unit's source, its digest, its file, and whether the file changed since the code
    was imported: then its text is not what runs, and the unit is its bytecode (no source)."""
    key = getattr(obj, "__code__", obj)
    held = _SOURCES.get(id(key))
    if held is not None and held[0] is key:
        return held[1]
    try:
        source: str | None = inspect.getsource(obj)
    except (OSError, TypeError):
        source = None
    file = _file_of(obj)
    found: tuple[str | None, str, str | None, bool]
    if source is not None and not runs_its_source(obj, file):
        found = (None, _bytecode_digest(obj), file, True)
    else:
        fingerprint = digest(source.encode()) if source is not None else code_fingerprint(obj)
        found = (source, fingerprint, file, False)
    _SOURCES[id(key)] = (key, found)
    return found


def _bytecode_digest(obj: Any) -> str:
    """What a function or a class (its methods, and its literal attributes, by name) runs,
    without its source."""
    if isinstance(obj, type):
        methods = {
            name: code_text(code)
            for name, member in vars(obj).items()
            if isinstance(
                code := getattr(getattr(member, "__func__", member), "__code__", None),
                types.CodeType,
            )
        }
        literals = {
            name: [type(value).__name__, value]
            for name, value in vars(obj).items()
            if not name.startswith("__") and isinstance(value, _CONSTANT_TYPES) and _jsonable(value)
        }
        return digest(canonical_json_bytes([obj.__qualname__, methods, literals]))
    return digest(code_text(getattr(obj, "__code__", obj)).encode())


def _text_of(key: str) -> str | None:
    """The digest of the whole text of unit ``key``'s module (None: it has none here)."""
    module = sys.modules.get(key.partition(":")[0])
    try:
        return digest(inspect.getsource(module).encode()) if module is not None else None
    except (OSError, TypeError):
        return None


def _member_functions(member: Any) -> list[Any]:
    """The functions a class member runs: a method's own; a ``staticmethod``'s or
    ``classmethod``'s; a ``property``'s getter, setter and deleter; the function of a
    ``functools.cached_property``, ``partialmethod`` or ``singledispatchmethod``."""
    member = getattr(member, "__func__", member)  # staticmethod, classmethod
    if isinstance(member, property):
        return [f for f in (member.fget, member.fset, member.fdel) if f is not None]
    if isinstance(
        member,
        functools.cached_property | functools.partialmethod | functools.singledispatchmethod,
    ):
        return [member.func]
    return [member]


def _wrappers(obj: Any) -> list[types.FunctionType]:
    """The functions wrapping ``obj`` (its ``__wrapped__`` chain, ``functools.wraps``),
    outermost first; none for a function that wraps nothing."""
    found: list[types.FunctionType] = []
    while isinstance(obj, types.FunctionType) and hasattr(obj, "__wrapped__"):
        if len(found) > 100:  # a cycle of __wrapped__: inspect.unwrap says so
            break
        found.append(obj)
        obj = obj.__wrapped__
    return found


def _function_run_by(value: Any) -> types.FunctionType | None:
    """The Python function a library's wrapper object calls: ``@lru_cache`` and ``@cache``
    (C wrappers with ``__wrapped__``), ``np.vectorize(f)`` (``pyfunc``), numba's ``@jit``
    (``py_func``); None for a function, a class or anything else."""
    if isinstance(value, types.FunctionType | type):
        return None
    library = type(value).__module__.partition(".")[0]
    try:  # any object's __getattr__ runs here (a proxy outside its context raises)
        inner = getattr(value, "__wrapped__", None)
        if not isinstance(inner, types.FunctionType) and library in _FUNCTION_ATTRIBUTES:
            inner = getattr(value, _FUNCTION_ATTRIBUTES[library], None)
    except Exception:
        return None
    return inner if isinstance(inner, types.FunctionType) else None


_FUNCTION_ATTRIBUTES = {"numpy": "pyfunc", "numba": "py_func"}


def _dispatched(obj: Any) -> list[Any]:
    """The implementations a ``functools.singledispatch`` function dispatches to (its
    ``registry``); none for anything else."""
    registry = getattr(obj, "registry", None) if isinstance(obj, types.FunctionType) else None
    if not isinstance(registry, Mapping) or not callable(getattr(obj, "dispatch", None)):
        return []
    return list(registry.values())


def _defined_in(fn: types.FunctionType) -> str:
    """The module whose code defined ``fn`` (a wrapper's ``__module__`` is its wrapped
    function's, copied by ``functools.wraps``)."""
    module = fn.__globals__.get("__name__")
    return module if isinstance(module, str) else "<exec>"


def _module_of(obj: Any) -> str:
    """The module a function or class was defined in; code ``exec``'d in a namespace with no
    ``__name__`` belongs to none (``__module__`` is None) and is named ``<exec>``."""
    module = getattr(obj, "__module__", None)
    return module if isinstance(module, str) else "<exec>"


def _names(code: types.CodeType) -> Iterator[str]:
    """Every global or attribute name a code object (and the code nested in it) uses."""
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _names(const)


# Instructions that use what was just loaded as an object to read or set an attribute of.
_ATTRIBUTE_USE = frozenset({"LOAD_ATTR", "LOAD_METHOD", "STORE_ATTR", "DELETE_ATTR"})
_NAME_LOADS = frozenset({"LOAD_GLOBAL", "LOAD_NAME", "LOAD_ATTR", "LOAD_DEREF"})


@cache
def _uses(code: types.CodeType) -> tuple[frozenset[str], frozenset[str]]:
    """What a code object (and the code nested in it) does with names, read from its
    bytecode once: the global (or attribute) names whose object it uses other than by
    reading a named attribute of it (passed to a call, ``getattr(mod, name)``; stored;
    returned: for a module, any of its code may then run), and the modules it imports."""
    escaping: set[str] = set()
    imported: set[str] = set()
    instructions = list(dis.get_instructions(code))
    for here, after in zip(instructions, [*instructions[1:], None], strict=True):
        if here.opname == "IMPORT_NAME":
            imported.add(str(here.argval))
        elif here.opname in _NAME_LOADS and (after is None or after.opname not in _ATTRIBUTE_USE):
            escaping.add(str(here.argval))
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            nested = _uses(const)
            escaping |= nested[0]
            imported |= nested[1]
    return frozenset(escaping), frozenset(imported)


def _file_of(obj: Any) -> str | None:
    try:
        return inspect.getsourcefile(obj) or inspect.getfile(obj)
    except (OSError, TypeError):
        return None


def _wrapped(value: functools.partial[Any] | types.MethodType) -> list[Any]:
    if isinstance(value, functools.partial):
        return [value.func, *value.args, *value.keywords.values()]
    return [value.__func__, value.__self__]


def _partial_arguments(value: Any) -> tuple[Any, ...] | None:
    """A partial's frozen arguments as a constant (``None``: not a partial, or not data)."""
    if not isinstance(value, functools.partial):
        return None
    frozen = (tuple(value.args), tuple(sorted(value.keywords.items())))
    return frozen if _jsonable(frozen) else None


_VALUE_NODES = 200_000  # a table bigger than this is not described (a guard, not a limit)
_VALUE_INLINE = 4096  # bytes of canonical JSON kept in the manifest; beyond: a digest


class _TooBig(Exception):
    pass


def describe(value: Any, nested: list[Any], is_user: Callable[[Any], bool]) -> Any:
    """What a value an action reads is, as JSON the same in any process; None: not data.

    Tables (dicts, lists, tuples, sets) as canonical JSON, a regex as its pattern and flags,
    a numpy array as dtype, shape and digest of its bytes, a pandas frame, series or index
    as shape, labels, dtypes and a digest of its rows, an instance of a user class (or a
    ``SimpleNamespace``, ``argparse.Namespace`` or ``ConfigParser``: a config) as its
    state, a date, time,
    ``Decimal``, ``Fraction``, ``UUID`` or complex number as its repr; a description over
    ``_VALUE_INLINE`` bytes is kept as its digest. User functions and classes found inside
    are appended to ``nested`` (their code is walked).
    """
    budget = [_VALUE_NODES]
    try:
        found = _describe(value, nested, is_user, budget, top=True)
    except (_TooBig, RecursionError):
        return None
    if found is None:
        return None
    data = canonical_json_bytes(found)
    if len(data) > _VALUE_INLINE:
        return {"digest": digest(data), "bytes": len(data)}
    return found


def _describe(
    value: Any, nested: list[Any], is_user: Callable[[Any], bool], budget: list[int], top: bool
) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooBig
    if isinstance(value, int) and value.bit_length() > _DECIMAL_INT_BITS:
        return {"int": hex(value)}
    if value is None or isinstance(value, bool | int | str):
        return value if type(value) in (bool, int, str) or value is None else _scalar(value)
    if isinstance(value, float):
        return float(value)

    def inner(item: Any) -> Any:
        return _describe(item, nested, is_user, budget, top=False)

    if isinstance(value, list | tuple):
        return [inner(v) for v in value]
    if isinstance(value, set | frozenset):
        items = [inner(v) for v in value]
        return {"set": sorted(items, key=canonical_json)}
    if isinstance(value, dict):
        pairs = [(inner(k), inner(v)) for k, v in value.items()]
        if all(isinstance(k, str) for k, _ in pairs):
            return dict(pairs)
        return {"dict": sorted(([k, v] for k, v in pairs), key=canonical_json)}
    if isinstance(value, bytes | bytearray):
        return {"bytes": digest(bytes(value))}
    if isinstance(value, re.Pattern):
        return {"re.Pattern": [inner(value.pattern), value.flags]}
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.ndarray):
        if value.dtype.hasobject:
            return {"numpy.ndarray": [str(value.dtype), list(value.shape), inner(value.tolist())]}
        data = numpy.ascontiguousarray(value).tobytes()
        dtype = value.dtype.str if value.dtype.fields is None else str(value.dtype.descr)
        return {"numpy.ndarray": [dtype, list(value.shape), digest(data)]}
    if numpy is not None and isinstance(value, numpy.generic):
        return {"numpy": [value.dtype.str, inner(value.item())]}
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(value, pandas.DataFrame | pandas.Series | pandas.Index):
        described = _pandas(pandas, value, inner)
        if described is not None:
            return described
    if is_user(value):
        nested.append(value)
        return {"unit": f"{value.__module__}:{value.__qualname__}"}
    if isinstance(value, functools.partial):  # OPS = {"triple": partial(scale, factor=3)}
        keywords = {str(k): inner(v) for k, v in sorted(value.keywords.items())}
        return {"partial": [inner(value.func), [inner(a) for a in value.args], keywords]}
    if isinstance(value, types.MethodType):  # STEPS = [Scaler().apply]: its code and state
        return {"method": [inner(value.__func__), inner(value.__self__)]}
    if isinstance(value, enum.Enum):
        return {"enum": f"{type(value).__qualname__}.{value.name}"}
    if isinstance(value, os.PathLike):
        return {"path": os.fspath(value)}
    library = _user_library(value)
    if library is not None:
        return {"ctypes.CDLL": library}
    database = _database_of(value)
    if database is not None:
        return {"sqlite3.Connection": database}
    if not isinstance(value, type) and is_user(type(value)):
        fields = _instance_state(value)
        if fields is not None:
            if not top:  # MODELS = {"s": Scaler()}: its class's code runs too
                nested.append(type(value))
            state = {"class": f"{type(value).__module__}:{type(value).__qualname__}"}
            return {**state, "state": inner(fields)}
    standard = _standard_value(value, inner)
    if standard is not None:
        return standard
    if top:
        return None  # a logger, a connection, an installed package's object: not data
    owner = getattr(value, "__module__", None) or type(value).__module__
    qualname = getattr(value, "__qualname__", None) or type(value).__qualname__
    return {"object": f"{owner}:{qualname}"}


def _standard_value(value: Any, inner: Callable[[Any], Any]) -> Any:
    """A config or a value of a standard library type, as data; None for anything else."""
    kind = f"{type(value).__module__}:{type(value).__qualname__}"
    if isinstance(value, types.SimpleNamespace) or kind == "argparse:Namespace":
        # a config loaded at import (CFG = SimpleNamespace(**json.load(...))): its fields
        return {"class": kind, "state": inner(dict(vars(value)))}
    configparser = sys.modules.get("configparser")
    if configparser is not None and isinstance(value, configparser.RawConfigParser):
        sections = {s: dict(value.items(s, raw=True)) for s in value.sections()}
        return {"class": kind, "state": inner({"DEFAULT": dict(value.defaults()), **sections})}
    if type(value) in _plain_value_types():  # a date, a Decimal: their repr is their value
        return {"class": kind, "repr": repr(value)}
    return None


def _instance_state(value: Any) -> dict[str, Any] | None:
    """An instance's attributes: its ``__dict__`` (as recorded before slots were read: the
    same description for the same instance), else the ``__slots__`` of its classes
    (``@dataclass(slots=True)``, attrs' ``@define``); None when it has neither."""
    if hasattr(value, "__dict__"):
        return dict(vars(value))
    slots = [
        name
        for klass in type(value).__mro__
        for name in _slot_names(klass)
        if name != "__weakref__" and hasattr(value, name)
    ]
    return {name: getattr(value, name) for name in slots} if slots else None


def _slot_names(klass: type) -> list[str]:
    slots = vars(klass).get("__slots__", ())
    return [slots] if isinstance(slots, str) else [s for s in slots if isinstance(s, str)]


def _plain_value_types() -> tuple[type, ...]:
    """Standard library value types whose repr says all they hold (those imported)."""
    found: list[type] = [complex]
    for module, names in _PLAIN_VALUES:
        loaded = sys.modules.get(module)
        found += [getattr(loaded, n) for n in names if loaded is not None and hasattr(loaded, n)]
    return tuple(found)


_PLAIN_VALUES = (
    ("datetime", ("date", "datetime", "time", "timedelta", "timezone")),
    ("decimal", ("Decimal",)),
    ("fractions", ("Fraction",)),
    ("uuid", ("UUID",)),
)


def _user_library(value: Any) -> list[str] | None:
    """A shared library of the user's loaded with ``ctypes`` (``lib = CDLL("./libkernel.so")``
    at module level): its path and the digest of its file, so a rebuilt library is a code
    change; None for anything else (a system library loaded by name: the environment)."""
    ctypes = sys.modules.get("ctypes")
    if ctypes is None or not isinstance(value, ctypes.CDLL):
        return None
    name = getattr(value, "_name", None)
    if not isinstance(name, str) or os.sep not in name:
        return None
    if file_reads.under(os.path.realpath(name), file_reads.ignored_roots(None)):
        return None  # the system's, or an installed package's
    try:
        with open(name, "rb") as library:
            return [name, digest(library.read())]
    except OSError:
        return None


def _database_of(value: Any) -> list[Any] | None:
    """A SQLite connection opened before the action ran (``DB = sqlite3.connect(path)`` at
    module level): the effects watch sees the connect, not the reads through it, so the
    connection is described by what its database files hold now (``file_reads.file_state``
    of each, and of its ``-wal``), as a module-level frame is by its rows; None for anything
    else, and for a connection that cannot say (closed, or another thread's)."""
    sqlite3 = sys.modules.get("sqlite3")
    if sqlite3 is None or not isinstance(value, sqlite3.Connection):
        return None
    try:
        attached = value.execute("PRAGMA database_list").fetchall()
    except sqlite3.Error:
        return None
    found: list[Any] = []
    for _, name, path in attached:
        if path:  # "" for an in-memory or temporary database
            state = file_reads.file_state(path)
            log = file_reads.wal_of(path)
            if log is not None:
                state = {**state, "wal": file_reads.file_state(log)}
            found.append([name, path, state])
    return found


def _pandas(pandas: Any, value: Any, inner: Callable[[Any], Any]) -> Any:
    """A DataFrame, Series or Index as its kind, shape, labels, dtypes and a digest of its
    rows (``pandas.util.hash_pandas_object``: a fixed key, so the same in any process); None
    when its cells cannot be hashed (lists in an object column)."""
    try:
        rows = pandas.util.hash_pandas_object(value, index=True).to_numpy().tobytes()
    except TypeError:
        return None
    kind = type(value).__name__
    if isinstance(value, pandas.DataFrame):
        labels = [inner(c) for c in value.columns]
        dtypes = [str(t) for t in value.dtypes]
    else:
        labels, dtypes = inner(value.name), [str(value.dtype)]
    return {f"pandas.{kind}": [list(value.shape), labels, dtypes, digest(rows)]}


def _scalar(value: Any) -> Any:
    """An int or str subclass (an IntEnum member, a numpy bool is not one) as its plain value."""
    return {
        "type": type(value).__qualname__,
        "value": int(value) if isinstance(value, int) else str(value),
    }


def _jsonable(value: Any) -> bool:
    if isinstance(value, tuple):
        return all(_jsonable(v) for v in value) and len(value) <= 100
    if isinstance(value, str):
        return len(value) <= 10_000
    if isinstance(value, int):
        return value.bit_length() <= _DECIMAL_INT_BITS
    return isinstance(value, _CONSTANT_TYPES)


def _module_imports(module: Any) -> set[str]:
    """Top-level installed packages a module imports (its global modules and objects)."""
    found: set[str] = set()
    for value in list(getattr(module, "__dict__", {}).values()):
        owner = value.__name__ if isinstance(value, types.ModuleType) else None
        if owner is None and isinstance(value, type | types.FunctionType):
            owner = getattr(value, "__module__", None)
        if isinstance(owner, str) and owner and not _is_user_module(owner):
            top = owner.partition(".")[0]
            if top not in sys.stdlib_module_names and top not in ("builtins", "reprolam"):
                found.add(top.lstrip("_") or top)
    return found


@cache
def _installed_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths.get("stdlib", ""), paths.get("platstdlib", ""), *file_reads.package_roots()}
    roots.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # reprolam itself
    return tuple(sorted(os.path.realpath(r) + os.sep for r in roots if r))


def _compiled_function(value: Any) -> bool:
    """A function compiled by Cython (its own type, not ``builtin_function_or_method``)."""
    return type(value).__name__ == "cython_function_or_method"


@cache
def _installed_package(name: str) -> bool:
    """Whether a module not imported yet belongs to an installed package (found where
    packages are installed; finding a top-level module imports nothing)."""
    top = name.partition(".")[0]
    if not top or top in sys.stdlib_module_names or top == "reprolam":
        return False
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return False
    origin = getattr(spec, "origin", None) if spec is not None else None
    return isinstance(origin, str) and os.path.isfile(origin) and not _is_user_path(origin)


def _is_user_module(name: str) -> bool:
    """User code: a module outside the standard library, installed packages and reprolam."""
    top = name.partition(".")[0]
    if name in sys.builtin_module_names or top == "reprolam":
        return False
    module = sys.modules.get(name)
    path = getattr(module, "__file__", None)
    if not isinstance(path, str):  # interactive (a notebook, an exec'd string), or unknown
        if top in sys.stdlib_module_names or module is None:
            return False
        if hasattr(module, "__path__"):  # a namespace package (a folder without __init__.py)
            return any(isinstance(p, str) and _is_user_path(p) for p in list(module.__path__))
        return True
    # by its file, not its name: a statistics.py of the user's beside the workflow file
    # shadows the standard library's and is the user's code
    return _is_user_path(path)


@cache
def _is_user_path(path: str) -> bool:
    full = os.path.realpath(path)
    return not any(full.startswith(root) for root in _installed_roots())


# -- git ----------------------------------------------------------------------------------


_GIT_CACHE: dict[Any, dict[str, Any] | None] = {}


def git_state(files: list[Any]) -> dict[str, Any] | None:
    """Commit of the git work tree holding the workflow's files, and their uncommitted diff.

    The diff covers the user files the run's code comes from (not the whole tree). Asked
    again with the same git HEAD, index and files (same sizes and times), the last answer is
    reused: two ``git`` processes per run would dominate a short run.
    """
    paths = sorted({f for f in files if isinstance(f, str) and _is_user_path(f)})
    root = next((r for r in map(_git_root, paths) if r), None)
    if root is None:
        return None
    key = (root, _git_marks(root), tuple(_stat(p) for p in paths))
    if key not in _GIT_CACHE:
        _GIT_CACHE.clear()
        _GIT_CACHE[key] = _read_git(root, paths)
    found = _GIT_CACHE[key]
    return dict(found) if found is not None else None


def _read_git(root: str, paths: list[str]) -> dict[str, Any] | None:
    commit = _git(root, "rev-parse", "HEAD")
    if commit is None:
        return None
    # git refuses a whole command naming a path outside its work tree (a helper imported
    # from elsewhere): such files are named, not handed to it; none of them is in the commit
    inside = {p: os.path.relpath(os.path.realpath(p), root) for p in paths}
    outside = sorted(p for p, rel in inside.items() if rel.startswith(os.pardir + os.sep))
    paths = [p for p in paths if p not in outside]
    tracked = _git(root, "ls-files", "-z", "--", *paths) if paths else ""
    listed = set(tracked.split("\0")) if tracked is not None else set()
    untracked = sorted(inside[p] for p in paths if tracked is not None and inside[p] not in listed)
    # porcelain (it refreshes stat info; plumbing reports racily-clean edits as clean); a
    # diff.external tool the user configured would shape the text, as in their terminal
    # the plain diff whatever the user configured: no colours, no external diff tool, no
    # textconv filters (the recorded text must be the change itself, the same everywhere)
    diff = (
        _git(
            root,
            "-c",
            "color.ui=never",
            "diff",
            "--no-ext-diff",
            "--no-textconv",
            "HEAD",
            "--",
            *paths,
        )
        if paths
        else ""
    )
    known = diff is not None and tracked is not None
    diff = diff or ""
    data = diff.encode()
    state: dict[str, Any] = {
        "root": root,
        "commit": commit.strip(),
        # the files differ from the commit: changed, or not in it at all; None: git said not
        "dirty": bool(diff or untracked) if known else None,
        "diff_digest": digest(data) if diff else None,
        "diff_bytes": len(data),
        **({"untracked": untracked} if untracked else {}),
        **({"outside": outside} if outside else {}),
    }
    if diff:
        state["diff_truncated"] = len(data) > DIFF_CAP
        state["diff_text"] = data[:DIFF_CAP].decode(errors="replace")
    return state


def _git_marks(root: str) -> tuple[Any, ...]:
    """Stats of the files git rewrites on commit, checkout and staging."""
    gitdir = _gitdir(root)
    return tuple(_stat(os.path.join(gitdir, n)) for n in ("HEAD", "index", "logs/HEAD"))


@cache
def _gitdir(root: str) -> str:
    gitdir = os.path.join(root, ".git")
    if os.path.isfile(gitdir):  # a linked work tree: "gitdir: PATH"
        with open(gitdir, encoding="utf-8") as pointer:
            gitdir = os.path.join(root, pointer.read().partition("gitdir:")[2].strip())
    return gitdir


def _stat(path: str) -> tuple[int, int, int]:
    """A file's version as a cache key: its times (change time too: ``cp -p`` keeps the
    modification time) and size."""
    try:
        st = os.stat(path)
    except OSError:
        return (0, 0, 0)
    return (st.st_mtime_ns, st.st_ctime_ns, st.st_size)


def _git_root(path: str) -> str | None:
    folder = os.path.dirname(os.path.realpath(path))
    while True:
        if os.path.exists(os.path.join(folder, ".git")):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def _git(root: str, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", root, *args], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None
