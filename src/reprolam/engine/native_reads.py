"""Files opened by C code that raises no audit event, seen where Python hands it the path.

pyarrow opens files in C++ (``pd.read_parquet``, ``pq.read_table``, ``pyarrow.dataset``,
``df.to_parquet``), polars in Rust (``pl.read_csv``, ``pl.scan_parquet``,
``df.write_parquet``), h5py in the HDF5 library: Python's ``open`` never runs, so the effects
watch (``engine.observe``) would see no read, and ``--reuse`` would take a result computed
from a Parquet file that has changed since (nor a write, which ``strict`` would refuse).
The functions and classes such a path is handed to are wrapped once, as their module is
imported (a ``sys.meta_path`` finder: a dataset is often loaded by the first step, which
imports pyarrow on the way), or when the watch is installed if it already was. While an
action is watched, each local path given to one of them is reported to its watch as
Python's ``open`` would report it:

* a file a reader is handed: a read (h5py's writing modes: a write, and ``r+``/``a`` of a
  file that exists a read too, taken before the library changes it);
* a directory a reader is handed (a partitioned dataset): the directory listed, and each
  data file under it read, skipping the names pyarrow's discovery skips (``.``, ``_``);
* a glob a reader is handed (polars: ``data/*.parquet``): the directory before its first
  wildcard listed, and each file it matches read;
* a file or a dataset's base directory a writer is handed: a write.

A file pyarrow opened itself (``pa.OSFile``, which pandas' ``to_parquet`` opens its target
with, or ``pa.memory_map``) is reported by the path its descriptor names (on Linux).

Not reported: file objects and buffers (Python opened them: already seen), remote URIs and
paths on a ``filesystem=`` other than the local one, and calls made by another wrapped call
(``pq.read_table`` builds a ``ParquetDataset``: one report). A library whose layout this
module does not know is left as it is: it works, unwatched.
"""

from __future__ import annotations

import functools
import glob
import importlib.machinery
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from types import FunctionType, ModuleType
from typing import Any
from urllib.parse import urlsplit

from reprolam import file_reads
from reprolam.engine import observe

# module -> name -> the position and name of the parameter holding the path (for a class:
# of its __init__, after self), and what the call does with it: "read", "write", or "hdf5"
# (h5py.File: its mode says)
_ENTRY_POINTS: dict[str, dict[str, tuple[int, str, str]]] = {
    "pyarrow.parquet": {
        "read_table": (0, "source", "read"),
        "read_pandas": (0, "source", "read"),
        "read_metadata": (0, "where", "read"),
        "read_schema": (0, "where", "read"),
        "ParquetFile": (0, "source", "read"),
        "ParquetDataset": (0, "path_or_paths", "read"),
        "write_table": (1, "where", "write"),
        "write_to_dataset": (1, "root_path", "write"),
        "write_metadata": (1, "where", "write"),
        "ParquetWriter": (0, "where", "write"),
    },
    "pyarrow.feather": {
        "read_table": (0, "source", "read"),
        "read_feather": (0, "source", "read"),
        "write_feather": (1, "dest", "write"),
    },
    "pyarrow.csv": {
        "read_csv": (0, "input_file", "read"),
        "open_csv": (0, "input_file", "read"),
        "write_csv": (1, "output_file", "write"),
    },
    "pyarrow.json": {"read_json": (0, "input_file", "read")},
    "pyarrow.orc": {
        "read_table": (0, "source", "read"),
        "ORCFile": (0, "source", "read"),
        "write_table": (1, "where", "write"),
        "ORCWriter": (0, "where", "write"),
    },
    "pyarrow.dataset": {
        "dataset": (0, "source", "read"),
        "parquet_dataset": (0, "metadata_path", "read"),
        "write_dataset": (1, "base_dir", "write"),
    },
    "h5py": {"File": (0, "name", "hdf5")},
    # polars reads and writes in Rust; "Class.method" names a method (its position after self)
    "polars": {
        **{
            reader: (0, "source", "read")
            for reader in (
                "read_csv",
                "scan_csv",
                "read_parquet",
                "scan_parquet",
                "read_parquet_schema",
                "read_parquet_metadata",
                "read_ipc",
                "scan_ipc",
                "read_ipc_stream",
                "read_ipc_schema",
                "read_json",
                "read_ndjson",
                "scan_ndjson",
                "read_avro",
            )
        },
        **{
            f"DataFrame.{writer}": (0, "file", "write")
            for writer in (
                "write_csv",
                "write_parquet",
                "write_ipc",
                "write_ipc_stream",
                "write_json",
                "write_ndjson",
                "write_avro",
            )
        },
        **{
            f"LazyFrame.{sink}": (0, "path", "write")
            for sink in ("sink_parquet", "sink_csv", "sink_ipc", "sink_ndjson")
        },
    },
}
# module -> what else the watch changes in it once it has run (``after_import``)
_AFTER_IMPORT: dict[str, Callable[[ModuleType], None]] = {}
_WRAPPED = "__reprolam_native_reads__"  # set on what is wrapped: never twice
_inside = threading.local()  # .depth: wrapped calls running in this thread


def install() -> None:
    """Wrap the entry points of the modules already imported, and of those imported later."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
    for name in _ENTRY_POINTS:
        module = sys.modules.get(name)
        if module is not None:
            _wrap_module(module)


def after_import(name: str, patch: Callable[[ModuleType], None]) -> None:
    """Have ``patch`` applied to module ``name`` now if it is imported, else once it is
    (by the same finder): for what the watch changes only in processes that use it."""
    _AFTER_IMPORT[name] = patch
    module = sys.modules.get(name)
    if module is not None:
        _wrap_module(module)


def _wrap_module(module: ModuleType) -> None:
    try:
        if module.__name__ in _ENTRY_POINTS:
            _wrap_entry_points(module)
        patch = _AFTER_IMPORT.get(module.__name__)
        if patch is not None:
            patch(module)
    except Exception:  # a layout this code does not know: the library works, unwatched
        return


class _Finder:
    """Finds nothing itself: for a module with entry points (or an ``after_import`` patch),
    it has the path finder find it, and wraps them once the module has run."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name not in _ENTRY_POINTS and name not in _AFTER_IMPORT:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        loader = getattr(spec, "loader", None)
        run = getattr(loader, "exec_module", None)
        if run is None:
            return None  # found some other way: imported unwrapped, as before

        def exec_module(module: ModuleType) -> None:
            run(module)
            _wrap_module(module)

        loader.exec_module = exec_module  # type: ignore[union-attr]
        return spec


def _wrap_entry_points(module: ModuleType) -> None:
    for attribute, (position, parameter, does) in _ENTRY_POINTS[module.__name__].items():
        owner, _, name = attribute.rpartition(".")
        if owner:  # a method: wrapped where its class holds it
            cls = getattr(module, owner, None)
            target = cls.__dict__.get(name) if isinstance(cls, type) else None
            if (
                isinstance(target, FunctionType)
                and not getattr(target, _WRAPPED, False)
                and not _rerouted(target, position + 1, parameter, does)
            ):
                setattr(cls, name, _reporting(target, position + 1, parameter, does))
            continue
        target = getattr(module, attribute, None)
        if target is None:
            continue  # another version of the library
        if isinstance(target, type):
            init = target.__dict__.get("__init__")
            if init is None:
                continue  # inherited: not this version's reader
            if not getattr(init, _WRAPPED, False):
                wrapped_init = _reporting(init, position + 1, parameter, does)
                target.__init__ = wrapped_init  # type: ignore[misc]
            continue
        if getattr(target, _WRAPPED, False):
            continue
        if isinstance(target, FunctionType) and _rerouted(target, position, parameter, does):
            continue
        wrapped = _reporting(target, position, parameter, does)  # compiled (Cython), or a closure
        setattr(module, attribute, wrapped)
        home = sys.modules.get(getattr(target, "__module__", "") or "")
        if home is not None and getattr(home, attribute, None) is target:
            setattr(home, attribute, wrapped)  # pyarrow.csv's from pyarrow._csv too


def _rerouted(target: FunctionType, position: int, parameter: str, does: str) -> bool:
    """Reroute the function that does the work: ``target``, or, under its decorators
    (``__wrapped__``; polars renames deprecated parameters so), the function they call.
    Rerouted, every reference reports, however it was bound. False for a function holding
    a closure of its own, which cannot be (its code needs its cells): the caller replaces
    it where it is found instead."""
    inner = target
    while isinstance(getattr(inner, "__wrapped__", None), FunctionType):
        inner = inner.__wrapped__  # type: ignore[attr-defined]
    if inner.__closure__:
        return False
    if not getattr(inner, _WRAPPED, False):  # else rerouted already, through another name
        _reroute(inner, _reporting(_copy(inner), position, parameter, does))
    return True


def _copy(function: FunctionType) -> FunctionType:
    copy = FunctionType(
        function.__code__,
        function.__globals__,
        function.__name__,
        function.__defaults__,
        function.__closure__,
    )
    copy.__kwdefaults__ = function.__kwdefaults__
    copy.__dict__.update(function.__dict__)
    copy.__qualname__ = function.__qualname__
    return copy


def _reroute(function: FunctionType, reporting: Callable[..., Any]) -> None:
    """Make ``function`` itself call ``reporting``: every reference to it does, also one
    bound before (``from pyarrow.parquet import read_table`` in a module imported earlier),
    which replacing the module's attribute would miss."""
    name = f"__reprolam_reports_{function.__name__}"
    function.__globals__[name] = reporting  # where the new code looks its one name up
    scope: dict[str, Any] = {}
    exec(f"def call(*args, **kwargs):\n    return {name}(*args, **kwargs)\n", scope)
    function.__code__ = scope["call"].__code__
    function.__defaults__ = function.__kwdefaults__ = None
    function.__wrapped__ = reporting.__wrapped__  # type: ignore[attr-defined]  # its signature
    setattr(function, _WRAPPED, True)


def _reporting(
    call: Callable[..., Any], position: int, parameter: str, does: str
) -> Callable[..., Any]:
    """``call``, reporting the paths it is handed (argument ``position``, or ``parameter``)
    to the watch of the action calling it, as what it ``does`` with them."""

    @functools.wraps(call)
    def reporting(*args: Any, **kwargs: Any) -> Any:
        depth = getattr(_inside, "depth", 0)
        if observe._active and not depth:
            watch = observe._watch_here()
            if watch is not None:
                given = args[position] if len(args) > position else kwargs.get(parameter)
                if does == "hdf5":
                    mode = args[position + 1] if len(args) > position + 1 else kwargs.get("mode")
                    _report_hdf5(watch, given, mode)
                elif _local_filesystem(kwargs.get("filesystem")):  # else: another machine's
                    (_report_reads if does == "read" else _report_writes)(watch, given)
        _inside.depth = depth + 1
        try:
            return call(*args, **kwargs)
        finally:
            _inside.depth = depth

    setattr(reporting, _WRAPPED, True)
    return reporting


def _local_filesystem(filesystem: Any) -> bool:
    """None: pyarrow infers it from the path (a remote URI is skipped by ``_local_paths``);
    pyarrow's or fsspec's ``LocalFileSystem``; anything else is not local files."""
    return filesystem is None or type(filesystem).__name__ == "LocalFileSystem"


def _report_reads(watch: Any, given: Any) -> None:
    for path in _local_paths(given):
        if _GLOB_MAGIC.search(path) and not os.path.exists(path):  # polars: "data/*.parquet"
            listed, files = _glob(path)
        elif os.path.isdir(path):  # a partitioned dataset
            listed, files = path, _data_files(path)
        else:
            listed, files = None, [path]
        if listed is not None:
            watch.audit("file_read", "os.scandir", (listed,))
        for file in files:
            watch.audit("file_read", "open", (file, "rb", os.O_RDONLY))


def _report_writes(watch: Any, given: Any) -> None:
    for path in _local_paths(given):  # a file, or a dataset's base directory
        watch.audit("file_write", "open", (path, "wb", os.O_WRONLY | os.O_CREAT | os.O_TRUNC))


def _report_hdf5(watch: Any, given: Any, mode: Any) -> None:
    mode = "r" if mode is None else str(mode)
    for path in _local_paths(given, home=False):
        exists = os.path.exists(path)
        if mode == "r" or (mode in ("r+", "a") and exists):
            watch.audit("file_read", "open", (path, "rb", os.O_RDONLY))
        if mode != "r":
            flags = os.O_RDWR if exists else os.O_WRONLY | os.O_CREAT
            watch.audit("file_write", "open", (path, "r+b" if exists else "wb", flags))


def _local_paths(given: Any, *, home: bool = True) -> Iterator[str]:
    """The local paths in what a reader was handed: a path, a ``file://`` URI, or a list;
    with ``home``, ``~/...`` under the home directory, as pyarrow and polars expand it
    (h5py does not)."""
    if isinstance(given, list | tuple):
        for item in given:
            yield from _local_paths(item, home=home)
        return
    if isinstance(given, bytes):
        given = os.fsdecode(given)
    if isinstance(given, os.PathLike):
        given = os.fspath(given)
    if not isinstance(given, str):
        # a file object or a buffer: opened by Python (seen then), or in memory; or a file
        # pyarrow opened in C++ (pandas' to_parquet opens its target with pa.OSFile)
        given = _native_file_path(given)
        if given is None:
            return
    if "://" in given:
        parts = urlsplit(given)
        local = file_reads.uri_path(parts) if parts.scheme == "file" else None
        if local is None:
            return  # s3://, gs://, hdfs://, http://, another host's file: not a local file
        given = local
    yield os.path.expanduser(given) if home else given


# pyarrow's files opened in C++, with no audit event: their paths are read off their descriptors
_NATIVE_FILES = {("pyarrow.lib", "OSFile"), ("pyarrow.lib", "MemoryMappedFile")}
_FD_PATHS = "/proc/self/fd"  # Linux: each open descriptor, a link to the file it opened


def _native_file_path(given: Any) -> str | None:
    """The path of a file pyarrow opened itself (``pa.OSFile``, ``pa.memory_map``), read off
    its descriptor (Linux's ``/proc/self/fd``; elsewhere None: not seen)."""
    kind = type(given)
    if (kind.__module__, kind.__name__) not in _NATIVE_FILES:
        return None
    try:
        path = os.readlink(f"{_FD_PATHS}/{given.fileno()}")
    except (OSError, ValueError, AttributeError):  # closed, or no /proc
        return None
    return path if path.startswith("/") and not path.endswith(" (deleted)") else None


_GLOB_MAGIC = re.compile(r"[*?[]")


def _glob(pattern: str) -> tuple[str, list[str]]:
    """A glob's root (its directory before the first wildcard: listed, so a file that starts
    or stops matching is a change) and the files it matches, in order."""
    parts = pattern.split(os.sep)
    fixed = next(i for i, part in enumerate(parts) if _GLOB_MAGIC.search(part))
    root = os.sep.join(parts[:fixed]) or (os.sep if pattern.startswith(os.sep) else ".")
    with observe.unwatched():  # the engine's listing, not the action's
        matches = sorted(m for m in glob.glob(pattern, recursive=True) if os.path.isfile(m))
    return root, matches


def _data_files(directory: str) -> list[str]:
    """The files pyarrow's dataset discovery reads under ``directory``, in a stable order
    (listing them is the engine's, not the action's: no read of each subdirectory)."""
    found = []
    with observe.unwatched():
        for root, dirs, files in os.walk(directory):
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
            found += [os.path.join(root, f) for f in sorted(files) if not f.startswith((".", "_"))]
    return found
