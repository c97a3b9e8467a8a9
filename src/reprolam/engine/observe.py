"""Watch an action while it runs: what it prints and warns, and what it does outside the door.

DESIGN.md: every source of nondeterminism reaches an action through the engine's context;
what an action does outside that door is observed and recorded as an undeclared effect.
While an action runs in this thread (and in the threads it starts: ``_start_thread``,
``_start_new_thread``; and in the tasks it submits to a ``ThreadPoolExecutor`` started
before it: ``_submit``), ``ActionWatch``:

* captures ``sys.stdout``, ``sys.stderr`` and Python warnings (size-capped), so what an action
  prints is kept with its step and never mixes with the CLI's own (``--json``) output;
* sees, through one process-wide audit hook (``sys.addaudithook``; hooks cannot be removed, so
  it is installed once and returns at once when no action is being watched): file writes
  outside the temp dir (and the context's ``workdir``, when it has one), file reads and
  directory listings outside the Python installation, the OS's own files, the store and
  the scratch the action made in the temp dir (``reprolam.file_reads``: each path once,
  fingerprinted as it is first read), SQLite databases opened with ``sqlite3.connect`` (a
  read of the database file; one the connection creates is a write, scratch in the temp dir;
  one it changed, a write too, seen when the step ends; in-memory ones are nothing), network
  connections and subprocess launches; reads of the standard input (``_StdinRouter``: a
  read of ``<stdin>``, which cannot be checked);
* sees the environment variables the user's own code reads (``os.environ``, ``os.getenv``,
  ``os.environb``, ``os.path.expandvars``; ``reprolam.env_reads``), each with the digest of
  the value read (going through the whole environment: one read, ``$*``), and those it
  leaves set, changed or unset (a write of the process's environment, as a working
  directory left changed is);
* compares cheap marks of the global ``random`` and NumPy RNG states before and after
  ``pure`` and ``external`` actions (``seeded`` ones get the globals seeded by the engine);
* notes wall-clock reads (``time.time()`` and friends, called through the ``time`` module)
  in ``pure`` actions;
* notes OS entropy drawn through ``os.urandom`` (``uuid4``, ``secrets``, ``SystemRandom``,
  an unseeded ``numpy.random.default_rng()``), ``os.getrandom`` or ``/dev/urandom`` as
  ``global_rng`` (``engine.entropy_probe``);
* hands what an action it runs itself (``reprolam.execute`` inside it) did to its own
  watch when that one stops (``_took_over``).

Each observation is an effect ``{kind, target, declared, count}`` (a ``file_read`` or
``env_read`` also holds the state of what was read: digest and size, see
``reprolam.file_reads`` and ``reprolam.env_reads``). File writes, network and subprocesses
are declared when the action lists ``side_effects``; a file read when the action was handed
its path (or a directory holding it) as an input or a param; global RNG use is declared for
``nondeterministic`` actions; a clock read in a ``pure`` action never is, nor a variable
read (pass the value as a param). In ``strict`` mode an undeclared file or variable read,
write, connection or launch is refused where it happens (the audit hook, or ``os.environ``,
raises ``UndeclaredEffect``) and the engine fails the step.

Limits (said, not hidden): output written straight to file descriptors 1/2 by C code is not
captured; files opened by C code without Python's ``open`` raise no audit event: pyarrow's
and h5py's are seen where Python hands them the path (``engine.native_reads``), SQLite
databases through the ``sqlite3.connect`` event (connecting is the read, so a connection
opened before the action is not seen; a WAL-mode database's ``-wal`` file is read with
it), any other library's not at all (netCDF4, PyTables, DuckDB, OpenCV, GDAL);
``datetime.now()`` (and pandas' and numpy's "now") and functions bound with ``from time
import time`` before the first watched action are not seen; an RNG drawn from and then
restored exactly is not seen.
"""

from __future__ import annotations

import _thread
import contextlib
import functools
import io
import operator
import os
import random
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from reprolam import env_reads, file_reads
from reprolam.trace.records import ErrorInfo

OUTPUT_CAP = 64 * 1024  # characters kept per stream and step
WARNINGS_CAP = 100
EFFECTS_CAP = 100
EFFECT_KINDS = (
    "file_read", "env_read", "file_write", "network", "subprocess", "global_rng", "clock",
)  # fmt: skip

_local = threading.local()
# The hook's own work (resolving, hashing) raises events too: ignored in the thread doing it.
# Per thread, not per watch: the threads an action starts report to its watch concurrently.
_guard = threading.local()
_active = 0  # watches in progress in any thread: the audit hook's one-comparison exit
_installed = False
_install_lock = threading.Lock()

_EVENTS = {
    "open": "file_write",  # or file_read: told apart by its mode (audit)
    "os.listdir": "file_read",
    "os.scandir": "file_read",
    "sqlite3.connect": "file_read",  # or file_write: creates the database (_database_open)
    "os.remove": "file_write",
    "os.rename": "file_write",  # os.replace too: its destination written, its source removed
    "os.link": "file_write",
    "os.symlink": "file_write",
    "os.mkdir": "file_write",
    "os.rmdir": "file_write",
    "os.truncate": "file_write",
    "os.chmod": "file_write",  # a file's metadata changed: permissions, owner, times, xattrs
    "os.chown": "file_write",
    "os.utime": "file_write",
    "os.setxattr": "file_write",
    "os.removexattr": "file_write",
    "shutil.rmtree": "file_write",
    "socket.connect": "network",
    "socket.sendto": "network",
    "subprocess.Popen": "subprocess",
    "os.system": "subprocess",
    "os.posix_spawn": "subprocess",
    "os.exec": "subprocess",
    "os.spawn": "subprocess",
    "os.fork": "subprocess",  # multiprocessing's fork start method: its workers' reads are unseen
    "os.chdir": "file_write",  # the process's working directory: noted if left changed (stop)
}
# events that change a file's metadata, not its content (a file read after is still data)
_METADATA_EVENTS = frozenset({"os.chmod", "os.chown", "os.utime", "os.setxattr", "os.removexattr"})
# events whose arguments are (source, destination, ...): the destination is what is written
_TO_DESTINATION = frozenset({"os.rename", "os.link", "os.symlink"})
_SHARED_MEMORY = "/dev/shm"
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
# Functions of the ``time`` module that read the wall clock when called without their
# optional argument (localtime(secs) converts a time it is given, reading no clock) ...
_CLOCK_FUNCTIONS = ("time", "time_ns", "localtime", "gmtime", "ctime", "asctime")
# ... and those that read it with one argument: strftime(format) formats the time now, and
# clock_gettime(CLOCK_REALTIME) is time.time() (a monotonic clock measures a duration: like
# perf_counter and monotonic, it says nothing of the date and is not watched)
_CLOCK_WITH_ONE_ARG = ("strftime", "clock_gettime", "clock_gettime_ns")
_WALL_CLOCK_IDS = frozenset(
    getattr(time, name) for name in ("CLOCK_REALTIME", "CLOCK_TAI") if hasattr(time, name)
)
# Reads that are the Python environment's, not data: source lines for tracebacks and
# warnings; the installed distributions' metadata, which importlib.metadata finds by listing
# every sys.path entry (a library's entry-point lookup during an action listed the project
# directory on sys.path as if the action read it)
_READ_IGNORED_CALLERS = ("importlib.metadata", "importlib_metadata")
# Source lines are read for code shown (tracebacks, warnings) by these, or by installed code;
# the action's own code calling them reads data
_SOURCE_LINE_READERS = ("linecache", "tokenize")
_CODE_SHOWERS = ("traceback", "warnings", "inspect", "reprolam.")
# How far below such a caller the read may be made: importlib.metadata tries an entry that is
# not a directory (a removed temp dir still on sys.path) as a zip, through zipfile.Path, or
# through the zipp package six frames down once the importlib_metadata backport is imported
# (distributed imports it)
_IGNORED_CALLER_DEPTH = 8
# The frame below threading's default excepthook (C code: no linecache frame): the source
# lines of a traceback it prints for a thread's uncaught exception are read from there, the
# action's own files and the sys.path places it looks for them in
_make_excepthook_caller = getattr(threading, "_make_invoke_excepthook", None)  # CPython's
_THREAD_EXCEPTHOOK_CALLER = _make_excepthook_caller().__code__ if _make_excepthook_caller else None
_UNSEEN: Any = object()


class UndeclaredEffect(PermissionError):
    """An action tried an effect it did not declare, under the ``strict`` effects policy."""


def declared(kind: str, determinism: str, side_effects: Sequence[str]) -> bool:
    """Whether an action's declaration covers an effect of this kind (a file read is
    declared by the paths the action is handed: ``ActionWatch``)."""
    if kind in ("file_write", "network", "subprocess"):
        return bool(side_effects)
    if kind == "global_rng":
        return determinism == "nondeterministic"
    # clock: only watched in pure actions, which promise not to read it; an environment
    # variable: a value the engine was not handed (a param is the door)
    return False


# how to declare each kind of read that only a param or an input can declare
_READ_FIXES = {
    "file_read": ("file read", file_reads.READ_FIX),
    "env_read": ("variable read", env_reads.READ_FIX),
}


def refusal(action: str, effects: Sequence[dict[str, Any]], policy: str) -> ErrorInfo | None:
    """The step failure for undeclared effects under the ``strict`` policy, else None."""
    undeclared = [e for e in effects if not e.get("declared")]
    if policy != "strict" or not undeclared:
        return None
    listed = "; ".join(f"{e['kind']}: {e['target']}" for e in undeclared[:5])
    more = f" (and {len(undeclared) - 5} more)" if len(undeclared) > 5 else ""
    kinds = {e["kind"] for e in undeclared}
    fixes = [f"for a {noun}, {fix}" for kind, (noun, fix) in _READ_FIXES.items() if kind in kinds]
    if kinds & {"file_write", "network", "subprocess"}:
        fixes.append("for a write, connection or process, declare it: side_effects=[...]")
    if "global_rng" in kinds:
        fixes.append(
            "for randomness, draw from ctx.rng or ctx.random (seeded by the run), or declare "
            "the action determinism='nondeterministic'"
        )
    if "clock" in kinds:
        fixes.append(
            "for the clock (a pure action promises not to read it), pass the time as a param, "
            "or declare the action determinism='nondeterministic'"
        )
    return ErrorInfo(
        type="UndeclaredEffect",
        message=f"{action}: undeclared effects refused (strict effects policy): {listed}{more}; "
        + "; ".join(fixes)
        + "; or let the effects policy warn",
    )


class _CappedText:
    """A text stream that keeps the first ``OUTPUT_CAP`` characters and counts the rest.

    A plain object, not an ``io.TextIOBase``: those cost a finalizer (close, flush) each,
    which is most of what watching a quiet action would cost.
    """

    __slots__ = ("dropped", "kept", "parts")
    encoding = "utf-8"
    errors = "strict"
    closed = False

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.kept = 0
        self.dropped = 0

    def write(self, text: str) -> int:
        room = OUTPUT_CAP - self.kept
        if room > 0:
            self.parts.append(text[:room])
            self.kept += min(room, len(text))
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def writelines(self, lines: Sequence[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def fileno(self) -> int:
        raise io.UnsupportedOperation("captured output has no file descriptor")

    def text(self) -> str:
        return "".join(self.parts)


class ActionWatch:
    """One action's observation, from ``start()`` to ``stop()`` (same thread)."""

    __slots__ = (
        "_cwd_before",
        "_env_set",
        "_err",
        "_given",
        "_metadata_only",
        "_out",
        "_previous",
        "_reads",
        "_rng_before",
        "_scratch",
        "determinism",
        "effects",
        "inputs",
        "params",
        "side_effects",
        "strict",
        "warned",
        "watch_clock",
        "watch_rng",
        "workdir",
    )
    _reads: dict[str, str | None]  # set on the first read (see __init__)
    _given: tuple[str, ...]
    _scratch: set[str]  # set on the first write into the temp dir (see __init__)
    _env_set: set[str]  # the variables the action set or removed (made when it first does)
    _metadata_only: set[str]  # written paths whose content it has not written (chmod, utime)
    _cwd_before: str | None  # the working directory before its first os.chdir, if it made one

    def __init__(
        self,
        *,
        determinism: str,
        side_effects: tuple[str, ...] = (),
        strict: bool = False,
        workdir: str | None = None,
    ) -> None:
        self.determinism = determinism
        self.side_effects = side_effects
        self.strict = strict
        self.workdir = workdir
        self.watch_clock = determinism == "pure"
        self.watch_rng = determinism in ("pure", "external")
        self.effects: dict[tuple[str, str], dict[str, Any]] = {}
        # Set on the first read only (most actions read nothing): ``_reads``, opened path ->
        # resolved path to record or None (ignored); ``_given``, the resolved given paths;
        # ``_scratch``, what it wrote in the temp dir (on its first such write).
        self._rng_before: tuple[Any, ...] = ()
        self.warned: list[dict[str, Any]] = []
        # made on the first write: most actions print nothing
        self._out: _CappedText | None = None
        self._err: _CappedText | None = None

    @property
    def out(self) -> _CappedText:
        """What the action printed to stdout (kept, capped)."""
        if self._out is None:
            self._out = _CappedText()
        return self._out

    @property
    def err(self) -> _CappedText:
        """What the action printed to stderr (kept, capped)."""
        if self._err is None:
            self._err = _CappedText()
        return self._err

    # -- lifecycle ----------------------------------------------------------------------------

    def start(
        self, inputs: Sequence[Any] = (), params: Mapping[str, Any] | None = None
    ) -> ActionWatch:
        """Start watching, for an action called with ``inputs`` and ``params`` (the paths
        among them are the files it may read as declared)."""
        self.inputs = inputs
        self.params = params
        if not _installed:
            install()
        _temp_root()  # found now, not in the hook: tempfile probes it holding a lock (audited)
        self._previous = getattr(_local, "watch", None)
        _local.watch = self
        if len(sys.modules) != _modules_seen[0]:
            _new_modules()  # imported between steps (by the engine, a planner): not the action's
        _began(self)
        warnings._filters_mutated()  # type: ignore[attr-defined]  # "once" registries reset
        if self.watch_rng:
            self._rng_before = rng_marks()
        return self

    def stop(self) -> dict[str, Any] | None:
        """End the observation; what was observed as a JSON-able dict, or None if nothing.

        Only the first call ends it (the set of watches in progress must stay exact).
        """
        if self._previous is _STOPPED:
            return self.observed()
        if self.watch_rng:
            after = rng_marks()
            if after[:3] != self._rng_before[:3]:
                self.note("global_rng", "the global random module state")
            if after[3:] != self._rng_before[3:] and not _numpy_untouched(self._rng_before, after):
                self.note("global_rng", "the global numpy.random state")
        if len(sys.modules) != _modules_seen[0]:
            self._imported(_new_modules())
        if _to_judge and self in _to_judge:  # rarely: one load otherwise
            self._judge(_to_judge.pop(self))
        _ended(self)
        _local.watch = outer = self._previous
        self._previous = _STOPPED
        if outer is not None and self.effects:  # run by an action: reprolam.execute(...)
            outer._took_over(self.effects.values())
        return self.observed()

    def observed(self) -> dict[str, Any] | None:
        if self._out is None and self._err is None and not self.warned and not self.effects:
            return None  # a quiet action: most of them
        found: dict[str, Any] = {}
        for name, stream in (("stdout", self._out), ("stderr", self._err)):
            if stream is None:
                continue
            if stream.kept:
                found[name] = stream.text()
            if stream.dropped:
                found[f"{name}_dropped"] = stream.dropped
        if self.warned:
            found["warnings"] = self.warned
        if self.effects:
            found["effects"] = list(self.effects.values())
        return found or None

    # -- what is seen -------------------------------------------------------------------------

    def note(self, kind: str, target: str) -> dict[str, Any]:
        key = (kind, target)
        effect = self.effects.get(key)
        if effect is None:
            effect = {
                "kind": kind,
                "target": target,
                "declared": self._given_covers(target)
                if kind == "file_read"
                else declared(kind, self.determinism, self.side_effects),
                "count": 0,
            }
            if len(self.effects) < EFFECTS_CAP:
                self.effects[key] = effect
                if kind == "file_read" and effect["declared"]:
                    self._say_which_param(effect)
                if kind == "file_read":
                    # What it holds as the action first reads it (the hook runs before the
                    # open): fingerprinted later, a file the action rewrites would be recorded
                    # as read with what it wrote, and --reuse would take a stale result.
                    effect.update(file_reads.file_state(target))
                elif kind == "env_read":
                    name = target.removeprefix(env_reads.PREFIX)
                    effect.update(env_reads.env_state(name, getattr(self, "_env_set", ())))
            elif kind in ("file_read", "env_read"):  # one entry says the reads listed are
                self.effects.setdefault(("file_read", ""), _unlisted_reads())  # not all
        effect["count"] += 1
        return effect

    def audit(self, kind: str, event: str, args: tuple[Any, ...]) -> None:
        if getattr(_guard, "busy", False):
            return
        _guard.busy = True
        read_first: dict[str, Any] | None = None
        try:
            if event == "open" and not _writing(args):
                kind = "file_read"
            elif event == "open" and _reads_what_is_there(args):
                read_first = self._read_before_writing(args[0])
            elif event == "sqlite3.connect":
                opened = _database_open(args)
                if opened is None:
                    return  # an in-memory database
                kind, args = opened
            elif event == "os.chdir":
                later = _judged_later(self)
                if not later.moved:
                    self._cwd_before = _cwd()  # not moved yet: the hook runs before
                    later.moved = True
                return  # moving and coming back (shutil.make_archive) is no effect
            found = [self._target(kind, event, args)]
            if event == "os.rename":  # a file moved away is written too (removed from there)
                found.append(self._written_path(event, _at(event, args, 0)))
            targets = [target for target in found if target is not None]
            if not targets:
                if read_first is not None:
                    self._refuse_if_strict(read_first)
                return
            if kind in _IMPORT_TIME and _package_importing(_caller()):
                return  # a library setting itself up (matplotlib's font cache): the import's
            if event == "os.fork" and not _users_process(_caller()):
                return  # workers an installed package manages, as for the other start methods
            if kind == "file_write":
                self._content_written(event, targets)
            effects = [self.note(kind, target) for target in targets]
            if kind == "file_read" and args and _relative(args[0]):
                # Relative to the working directory: from another one it names another file.
                effects[0].setdefault("relative", os.fsdecode(args[0]))
            if event == "sqlite3.connect" and kind == "file_read":
                self._database_log(targets[0], effects[0])
                databases = _judged_later(self).databases
                databases.setdefault(targets[0], _database_stamp(targets[0]))
        finally:
            _guard.busy = False
        if event == _PATH_CHECK:  # judged when the step ends: the action may write the path
            checked = _judged_later(self).looked_for
            checked[targets[0]] = checked.get(targets[0], 0) + 1
            return
        for effect in effects if read_first is None else (read_first, *effects):
            self._refuse_if_strict(effect)

    def _read_before_writing(self, path: Any) -> dict[str, Any] | None:
        """A file opened to be read and written (``open(counter, "r+")``, ``os.O_RDWR``)
        is read before the action writes it: its state then is what the
        action computed from (as for a file it reads and then rewrites)."""
        target = self._read_path(path)
        if target is None:
            return None
        try:
            os.stat(target)
        except (OSError, ValueError):
            return None  # made by this open: nothing there to read
        effect = self.note("file_read", target)
        if _relative(path):
            effect.setdefault("relative", os.fsdecode(path))
        return effect

    def _took_over(self, effects: Iterable[dict[str, Any]]) -> None:
        """The effects of an action this one ran itself (``reprolam.execute``, or a run's
        steps, inside it) are its own too, declared or not by its own declaration (refused
        under ``strict`` when its step ends): its step's record did not show them, and
        ``--reuse`` did not check what they read."""
        for effect in effects:
            kind, target = effect["kind"], effect["target"]
            if kind == "clock" and not self.watch_clock:
                continue  # watched only in pure actions: nothing this one promised
            known = self.effects.get((kind, target))
            if known is not None:
                known["count"] += effect["count"]
                continue
            if len(self.effects) >= EFFECTS_CAP:
                if kind in ("file_read", "env_read"):
                    self.effects.setdefault(("file_read", ""), _unlisted_reads())
                continue
            taken = {**effect}
            if kind != "file_read":
                taken["declared"] = declared(kind, self.determinism, self.side_effects)
            elif not effect.get("module") and not effect.get("unlisted"):
                taken["declared"] = self._given_covers(target)
            self.effects[kind, target] = taken

    def _left_environment(self, before: dict[str, Any]) -> None:
        """A variable the action set or removed and did not put back is changed for every
        later step (and the processes they start), as a working directory left changed is:
        a write of the process's environment (its value is not said: it may be a secret)."""
        for name, was in sorted(before.items()):
            now = _env_value(name)
            if now != was:
                how = "set" if was is None else "unset" if now is None else "changed"
                self.note("file_write", f"the environment of the process: ${name} {how}")

    def _wrote_into(self, databases: dict[str, tuple[int, ...]]) -> None:
        """A database the action connected to and then changed (``INSERT``, ``CREATE``,
        committed; SQLite's C code writes it, with no audit event) is written, as well as
        read (``databases``: path -> its stamp when connected)."""
        for database, before in databases.items():
            if _database_stamp(database) != before:
                self.note("file_write", database)

    def _judge(self, later: _JudgedLater) -> None:
        """What the action did that is judged only once it ended (``_JudgedLater``)."""
        if later.moved:
            self._left_moved()
        if later.looked_for:
            self._made_what_it_looked_for(later.looked_for)
        if later.databases:
            self._wrote_into(later.databases)
        if later.env_before:
            self._left_environment(later.env_before)

    def _made_what_it_looked_for(self, checked: dict[str, int]) -> None:
        """A path the action only checked for (``checked``: path -> how many checks) and then
        wrote, or wrote into (``if not exists(d): makedirs(d)``, ``if exists(out):
        remove(out)``), is where its output goes, not data it read; one it also opened or
        listed was read."""
        written = [target for kind, target in self.effects if kind == "file_write"]
        for target, checks in checked.items():
            effect = self.effects.get(("file_read", target))
            if (
                effect is not None
                and effect["count"] == checks
                and file_reads.under_any(written, target)
            ):
                del self.effects["file_read", target]

    def _left_moved(self) -> None:
        """An action that changed the process's working directory and left it changed has
        changed where every later step's relative paths point: a write outside the store."""
        now = _cwd()
        if now != self._cwd_before:
            self.note(
                "file_write",
                f"the working directory of the process (from {self._cwd_before} to {now})",
            )

    def _content_written(self, event: str, targets: list[str]) -> None:
        """Keep apart the paths only a file's metadata was changed at (``chmod``, ``utime``):
        reading such a file afterwards is a read of data the action did not write."""
        metadata = event in _METADATA_EVENTS
        if not metadata and not hasattr(self, "_metadata_only"):
            return  # most actions change no metadata
        if not hasattr(self, "_metadata_only"):
            self._metadata_only = set()
        for target in targets:
            if not metadata:
                self._metadata_only.discard(target)
            elif ("file_write", target) not in self.effects:
                self._metadata_only.add(target)

    def _database_log(self, database: str, effect: dict[str, Any]) -> None:
        """A WAL-mode database's ``-wal`` file, when there is one, holds what was committed
        since the last checkpoint (another process holding it open, a writer that has not
        checkpointed): read with the database, so a change there is a change of the data."""
        log = file_reads.wal_of(database)
        if log is not None:
            self.note("file_read", log)["declared"] = effect["declared"]

    def env(self, name: Any, *, setting: bool, caller: Any) -> None:
        """Code in frame ``caller`` read (or set, or removed) environment variable ``name``."""
        if getattr(_guard, "busy", False) or not isinstance(name, str):
            return
        _guard.busy = True
        try:
            if not _by_users_code(caller):
                return
            if setting:
                try:
                    self._env_set.add(name)
                except AttributeError:
                    self._env_set = {name}
                # what it held before the action first changed it (not changed yet)
                _judged_later(self).env_before.setdefault(name, _env_value(name))
                return
            if name in getattr(self, "_env_set", ()):
                return  # what it set itself
            if (
                "env_read",
                _WHOLE_ENVIRONMENT,
            ) in self.effects and name != env_reads.WHOLE:
                return  # read with the whole environment
            effect = self.note("env_read", env_reads.target(name))
        finally:
            _guard.busy = False
        self._refuse_if_strict(effect)

    def read_stdin(self) -> None:
        """The action read the process's standard input: data the engine was not handed
        and does not keep, so the read cannot be checked again."""
        key = ("file_read", STDIN)
        effect = self.effects.get(key)
        if effect is None:
            effect = {
                "kind": "file_read",
                "target": STDIN,
                "declared": False,
                "count": 0,
                "unverifiable": "read from the standard input, which is not kept: it "
                "cannot be checked",
            }
            if len(self.effects) < EFFECTS_CAP:
                self.effects[key] = effect
            else:
                self.effects.setdefault(("file_read", ""), _unlisted_reads())
        effect["count"] += 1
        self._refuse_if_strict(effect)

    def _imported(self, names: Iterable[str]) -> None:
        """The user's modules the action imported (``importlib.import_module(name)``, an import
        inside the action): code the static walk of ``code_capture`` cannot reach, recorded as
        reads of their files, declared, so a changed plugin is seen by ``--reuse`` and named by
        ``reproduce`` (installed packages and the standard library are the environment)."""
        roots = (*file_reads.ignored_roots(self.workdir), _OWN_PACKAGE)
        with unwatched():  # hashing a module's file is not a read of the action's
            for name in names:
                if name.startswith("__"):
                    continue  # an alias: multiprocessing's __mp_main__ is the main script
                path = getattr(sys.modules.get(name), "__file__", None)
                if not isinstance(path, str):
                    continue  # a namespace package, a built-in
                full = file_reads.real_file(path)
                if "__pycache__" in full or file_reads.under(full, roots):
                    continue
                effect = self.note("file_read", full)
                effect["declared"] = True
                effect["module"] = name

    def _refuse_if_strict(self, effect: dict[str, Any]) -> None:
        if self.strict and not effect["declared"]:
            kind, target = effect["kind"], effect["target"]
            fix = f"; {_READ_FIXES[kind][1]}" if kind in _READ_FIXES else ""
            raise UndeclaredEffect(
                f"undeclared {kind.replace('_', ' ')} refused: {target} (strict effects policy)"
                + fix
            )

    def _target(self, kind: str, event: str, args: tuple[Any, ...]) -> str | None:
        if kind == "file_write":  # (source, destination, ...) events write the destination
            where = 1 if event in _TO_DESTINATION else 0
            return self._written_path(event, _at(event, args, where))
        if kind == "file_read":
            path = args[0] if args else None
            if event == "open" and args[1:2] == (None,) and _relative(path):
                return None  # os.open(name, dir_fd=...) (shutil.rmtree's walk): where is unknown
            return self._read_path("." if path is None and event != "open" else path)
        if kind == "network":
            return f"connect {_address(args[1] if len(args) > 1 else None)}"
        if event == "os.fork":
            return "os.fork: a copy of this process (a multiprocessing worker, or a direct fork)"
        if event == "multiprocessing":
            return f"multiprocessing: a new Python process, started by {args[0]}"
        command = args[1] if event == "subprocess.Popen" else args[0]
        if isinstance(command, list | tuple):
            command = " ".join(map(str, command))
        return f"{event}: {command!s}"[:300]

    def _written_path(self, event: str, path: Any) -> str | None:
        if path is _UNKNOWN:
            return None
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not isinstance(path, str | os.PathLike):
            return None  # a file descriptor: the open that made it was seen
        full = os.path.realpath(os.fspath(path))
        if full == os.devnull or "__pycache__" in full:
            return None
        if self._allowed(full):
            if event in _METADATA_EVENTS:
                return None  # its content is still what it was: not the action's scratch
            try:  # the action's own scratch: reading it back later is not a read of data
                self._scratch.add(full)
            except AttributeError:
                self._scratch = {full}
            return None
        if event == "os.mkdir" and os.path.isdir(full):
            return None  # makedirs(exist_ok=True) of what exists (matplotlib's cache): no write
        if event == "os.mkdir" and self.workdir and _holds_workdir(full, self.workdir):
            return None  # ``ctx.workdir`` making the store's directories its workdirs go in
        return full

    def _read_path(self, path: Any) -> str | None:
        """The resolved path of a read to record, or None: ignored (``reprolam.file_reads``),
        a file descriptor, a module being imported, or a file this action wrote itself."""
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not isinstance(path, str | os.PathLike):
            return None  # a file descriptor (os.scandir(fd)), or os.listdir() of "."
        opened = os.fsdecode(os.fspath(path))
        if "__pycache__" in opened:
            return None  # compiled modules an import reads (most of the files it opens)
        try:
            reads = self._reads
        except AttributeError:
            reads = self._reads = {}
        full: str | None = reads.get(opened, _UNSEEN)
        if full is _UNSEEN:  # resolved once per path and step: actions reopen files in loops
            full = file_reads.real_file(opened)  # an import opens ~1,500 files
            if full in _ENTROPY_DEVICES:
                self._drew_entropy(full)
            roots = file_reads.ignored_roots(self.workdir)
            if "__pycache__" in full or file_reads.under(full, roots):
                full = None
            reads[opened] = full
        if full is None or self._in_scratch(full):
            return None
        if ("file_write", full) in self.effects and full not in getattr(self, "_metadata_only", ()):
            return None  # what it wrote itself
        # a path already recorded is counted without looking at the frames again
        return full if ("file_read", full) in self.effects or not _read_by_import() else None

    def _drew_entropy(self, device: str) -> None:
        """The action's own code opened ``/dev/urandom`` (or ``/dev/random``) itself: OS
        entropy, as ``os.urandom`` is (the OS's files are otherwise no reads)."""
        from reprolam.engine import entropy_probe

        caller = _caller()
        while caller is not None and caller.f_globals.get("__name__") == "pathlib":
            caller = caller.f_back  # Path(device).read_bytes(): who called it
        if caller is not None:
            entropy_probe._noted(self, caller, sys.modules[__name__], f"{device} read")

    def _in_scratch(self, path: str) -> bool:
        """Whether the action made ``path`` (or a directory holding it) in the temp dir."""
        try:
            scratch = self._scratch
        except AttributeError:  # most actions make none
            return False
        return file_reads.under(path, scratch)

    def _given_covers(self, path: str) -> bool:
        """Whether the action was handed ``path``, or a directory holding it."""
        try:
            given = self._given
        except AttributeError:
            given = self._given = file_reads.given_paths(self.inputs, self.params or {})
        return file_reads.under(path, given)

    def _say_which_param(self, effect: dict[str, Any]) -> None:
        """A read declared by a param naming a directory holding the path, not the path
        itself nor an input (``data_dir="."``, or any text naming a directory, ``sep="."``
        too: every read under it is declared), names the param in ``declared_by``, so the
        record says what declared it."""
        path, params = effect["target"], self.params or {}
        if not params or file_reads.under(path, file_reads.given_paths(self.inputs, {})):
            return  # handed as an input: what inputs are for
        if path in file_reads.given_paths((), params):
            return  # a param names the file itself
        for name, value in params.items():
            if file_reads.under(path, file_reads.given_paths((), {name: value})):
                effect["declared_by"] = f"param {name}"
                return

    def _allowed(self, path: str) -> bool:
        """Scratch: the OS temp dir, shared memory (``/dev/shm``: joblib's memmapping folder
        for ``n_jobs``, gone at reboot) and the action's workdir."""
        roots = [_temp_root(), _SHARED_MEMORY]
        if self.workdir:
            roots.append(os.path.realpath(self.workdir))
        return file_reads.under(path, roots)

    def _warned(self, message: warnings.WarningMessage) -> None:
        if len(self.warned) < WARNINGS_CAP:
            self.warned.append(
                {
                    "category": message.category.__name__,
                    "message": str(message.message),
                    "filename": message.filename,
                    "lineno": message.lineno,
                }
            )


_STOPPED: Any = object()
_ENTROPY_DEVICES = frozenset({"/dev/urandom", "/dev/random"})


@dataclass(slots=True)
class _JudgedLater:
    """What a watch in progress judges when its action ends (``ActionWatch._judge``): kept
    beside it, not on it, so that the many actions that do none of this cost one check."""

    moved: bool = False  # it called os.chdir
    looked_for: dict[str, int] = field(default_factory=dict)  # paths it checked for
    databases: dict[str, tuple[int, ...]] = field(default_factory=dict)  # SQLite files opened
    env_before: dict[str, Any] = field(default_factory=dict)  # variables it set: values before


_to_judge: dict[ActionWatch, _JudgedLater] = {}


def _judged_later(watch: ActionWatch) -> _JudgedLater:
    found = _to_judge.get(watch)
    return found if found is not None else _to_judge.setdefault(watch, _JudgedLater())


_PATH_CHECK = "os.stat"  # the event name path checks are audited under (_path_check_probe)


def _cwd() -> str | None:
    try:
        return os.getcwd()
    except OSError:  # removed from under the process
        return None


def _writing(args: tuple[Any, ...]) -> bool:
    """Whether an ``open`` audit event (path, mode, flags) opens for writing."""
    _, mode, flags = (*args, None, None)[:3]
    if isinstance(mode, str):
        return any(c in mode for c in "wax+")
    return bool(isinstance(flags, int) and flags & _WRITE_FLAGS)


def _reads_what_is_there(args: tuple[Any, ...]) -> bool:
    """Whether a writing ``open`` event (path, mode, flags) opens an existing file to read
    and then write it: ``r+`` (not ``w+``, which empties it, ``x+``, which makes it, nor
    ``a+``, mostly a log appended to), or ``O_RDWR`` without ``O_TRUNC``, ``O_CREAT``,
    ``O_EXCL`` or ``O_APPEND``."""
    _, mode, flags = (*args, None, None)[:3]
    if isinstance(mode, str):
        return "r" in mode and "+" in mode
    return isinstance(flags, int) and flags & os.O_RDWR != 0 and not flags & _NOT_READ_FIRST


_NOT_READ_FIRST = os.O_TRUNC | os.O_CREAT | os.O_EXCL | os.O_APPEND


def _database_open(args: tuple[Any, ...]) -> tuple[str, tuple[str]] | None:
    """What a ``sqlite3.connect`` audit event (database) opens: ``("file_read", (path,))`` for
    an existing database file (C code reads it, not Python's ``open``), ``("file_write",
    (path,))`` for one the connection creates; None for an in-memory database.

    A ``file:`` URI (the event does not say whether ``uri=True`` was passed: a name starting
    so is taken for one) names its path; ``mode=memory`` and ``:memory:`` name no file.
    ``mode=ro`` or ``mode=rw`` never create: a missing file is read as missing."""
    name = args[0] if args else None
    if isinstance(name, bytes):
        name = os.fsdecode(name)
    if isinstance(name, os.PathLike):
        name = os.fspath(name)
    if not isinstance(name, str):
        return None
    creates = True
    if name.startswith("file:"):
        from urllib.parse import parse_qs, urlsplit

        uri = urlsplit(name)
        mode = parse_qs(uri.query).get("mode", [""])[-1]
        path = file_reads.uri_path(uri)
        if mode == "memory" or path is None:
            return None
        name, creates = path, mode not in ("ro", "rw")
    if name in ("", ":memory:"):
        return None  # "" is a temporary database SQLite deletes on close
    return ("file_write" if creates and not os.path.exists(name) else "file_read"), (name,)


def _env_value(name: str) -> Any:
    """What variable ``name`` holds, read without ``os.environ``'s watched lookup."""
    environ: Any = os.environ
    return environ._data.get(environ.encodekey(name))


def _database_stamp(database: str) -> tuple[int, ...]:
    """What tells a write into a SQLite database: its file's time and size, and how much its
    ``-wal`` file holds (a committed write in WAL mode goes there; an empty one is made by a
    mere read)."""
    stamp: list[int] = []
    for path in (database, database + "-wal"):
        try:
            st = os.stat(path)
        except OSError:
            stamp += (0, 0)
            continue
        stamp += (st.st_mtime_ns, st.st_size) if path == database else (st.st_size, 0)
    return tuple(stamp)


def _unlisted_reads() -> dict[str, Any]:
    """The effect that says a step read more paths or variables than its effects list."""
    return {
        "kind": "file_read",
        "target": f"(more paths or variables read than the {EFFECTS_CAP} effects listed)",
        "declared": False,
        "count": 1,
        "unlisted": True,
    }


def _read_by_import() -> bool:
    """Whether the read being audited is a module import (``io.open_code`` raises the same
    ``open`` event as ``open``) or a source line read for a traceback (``linecache``)."""
    caller = _caller()
    if caller is None:
        return False
    if caller.f_code is _THREAD_EXCEPTHOOK_CALLER:
        return True  # a thread's uncaught exception: C code reads the source lines it prints
    frame = caller  # importlib.metadata opens a sys.path entry it cannot list as a zip file
    for _ in range(_IGNORED_CALLER_DEPTH):  # (zipfile.Path): a few frames below it
        if frame is None:
            break
        module = str(frame.f_globals.get("__name__", ""))
        if module.startswith(_SOURCE_LINE_READERS):
            return _source_lines_for_code(frame)
        if module.startswith(_READ_IGNORED_CALLERS):
            return True
        frame = frame.f_back
    return _importing(caller)


def _source_lines_for_code(frame: Any) -> bool:
    """Whether ``linecache`` (``tokenize``) reads, in ``frame``, source lines to show code
    (a traceback, a warning, ``inspect.getsource``): not when the action's own code called
    it, as ``linecache.getline("data.csv", 3)`` reads data."""
    while frame is not None and str(frame.f_globals.get("__name__", "")).startswith(
        _SOURCE_LINE_READERS
    ):
        frame = frame.f_back
    if frame is None:
        return True
    module = str(frame.f_globals.get("__name__", ""))
    return module.startswith(_CODE_SHOWERS) or _installed_code(frame.f_code.co_filename)


@contextlib.contextmanager
def unwatched() -> Iterator[None]:
    """The engine's own file work while an action runs (hashing what it read, listing a
    dataset's files): not the action's effects."""
    busy = getattr(_guard, "busy", False)
    _guard.busy = True
    try:
        yield
    finally:
        _guard.busy = busy


# Where the events that take a directory descriptor have it, for their first and second path
_DIR_FD = {
    "os.remove": (1,),
    "os.rmdir": (1,),
    "os.mkdir": (2,),
    "os.chmod": (2,),
    "os.chown": (3,),
    "os.utime": (3,),
    "shutil.rmtree": (1,),
    "os.rename": (2, 3),
    "os.link": (2, 3),
    "os.symlink": (None, 2),
}
_UNKNOWN: Any = object()  # a path relative to a directory descriptor that cannot be read


def _at(event: str, args: tuple[Any, ...], which: int) -> Any:
    """Path ``which`` of an event, resolved against its ``dir_fd`` when it has one
    (``shutil.rmtree`` deletes a tree by names relative to open directories, which were
    taken for names in the working directory)."""
    path = args[which] if len(args) > which else None
    places = _DIR_FD.get(event, ())
    slot = places[which] if which < len(places) else None
    fd = args[slot] if slot is not None and len(args) > slot else None
    if not isinstance(fd, int) or not isinstance(path, str | bytes) or os.path.isabs(path):
        return path
    try:
        return os.path.join(os.readlink(f"/proc/self/fd/{fd}"), os.fsdecode(path))
    except OSError:  # no /proc (macOS): where it is cannot be told
        return _UNKNOWN


def _relative(path: Any) -> bool:
    return isinstance(path, str | bytes) and not os.path.isabs(path)


_temp: dict[str, str] = {}  # the OS temp dir tempfile names -> its real path


def _temp_root() -> str:
    """The OS temp dir, real path. Found before an action runs (``ActionWatch.start``): the
    first time, ``tempfile`` probes for one holding a lock, and its probe opens files the
    hook sees; asking ``tempfile`` from the hook then waited on that lock forever."""
    real = _temp.get(tempfile.tempdir or "")  # set once tempfile has found it: no call
    if real is not None:
        return real
    if getattr(_guard, "busy", False) and _temp:  # in the hook, tempfile may be probing
        return next(iter(_temp.values()))
    named = tempfile.gettempdir()
    _temp.clear()
    real = _temp[named] = os.path.realpath(named)
    return real


def _caller() -> Any:
    """The frame that raised the event being audited (below the hook's own frames)."""
    caller: Any = sys._getframe(1)
    while caller is not None and caller.f_globals is _GLOBALS:
        caller = caller.f_back
    return caller


# Effects an installed package's first import may have, which are then the import's, not the
# action's: matplotlib makes its config directory and runs fc-list to build its font cache
# when first imported on a machine (reads and clock reads at any import are the import's
# too, see ``_importing``). A connection is not (data fetched at import is data), nor what
# the user's own module does at import (its code is the action's).
_IMPORT_TIME = frozenset({"file_write", "subprocess"})


def _package_importing(caller: Any) -> bool:
    """Whether the event comes from an installed package's module code running as it is
    imported (the innermost module being executed, below the engine's frames)."""
    frame = caller
    while frame is not None:
        if frame.f_code.co_name == "<module>":  # below the engine: a module being imported
            return _package_code(frame.f_code.co_filename)
        if str(frame.f_globals.get("__name__", "")).startswith(_ENGINE):
            return False
        frame = frame.f_back
    return False


def current_watch() -> ActionWatch | None:
    return getattr(_local, "watch", None) if _active else None


# -- routing output and warnings to the watch of the writing thread ---------------------------
# While any action is watched, sys.stdout, sys.stderr and the warnings display hook are
# replaced once by routers; the last watch to stop puts back what the first replaced.
# Swapping the streams per watch would break as soon as two actions run in threads (sweeps
# with jobs): a watch stopping out of order would leave the process printing into a
# finished step's buffer.

_watches: list[ActionWatch] = []  # in progress, in any thread (guarded by _watch_lock)
_watch_lock = threading.Lock()
# while routed: the stdout, stderr, warnings.showwarning and its impl the routers replaced
_routed: tuple[Any, Any, Any, Any] | None = None
_routers: tuple[Any, Any] = (None, None)  # the routers in place while routed
_stdin: tuple[Any, Any] = (None, None)  # while routed: the sys.stdin replaced, its router
STDIN = "<stdin>"  # the target of a read of the standard input


def _sink() -> ActionWatch | None:
    """The watch a write belongs to: the writing thread's, that of the action that started
    the thread (None once that action's step has ended: a thread outliving its step printed
    into the next step's output), or (from another thread) the only watch in progress; None
    when that is ambiguous or there is none, and for a thread that drives runs (a sweep's:
    what it prints between its own steps is its own, never the action another sweep thread
    is running)."""
    watch: ActionWatch | None = getattr(_local, "watch", None)
    if watch is not None:
        return watch
    started_by: ActionWatch | None = getattr(threading.current_thread(), _THREAD_WATCH, None)
    if started_by is not None:  # a thread an action started: its action's, while it runs
        return None if started_by._previous is _STOPPED else started_by
    if len(_watches) == 1 and not getattr(_local, "drives_runs", False):
        return _watches[0]
    return None


class _Router:
    """``sys.stdout`` or ``sys.stderr`` while actions are watched (see above)."""

    __slots__ = ("stream", "which")

    def __init__(self, stream: Any, which: str) -> None:
        self.stream = stream  # what it replaced: where unwatched writes go
        self.which = which  # "out" or "err": the watch's capture it writes to

    def _target(self) -> Any:
        watch = _sink()
        if watch is not None:
            return getattr(watch, self.which)
        routed = _routed
        if self.which == "out" and routed is not None and _outlives_its_step():
            return routed[1]  # stderr: never the CLI's own output (run --json)
        return self.stream

    def write(self, text: str) -> int:
        return int(self._target().write(text))

    def writelines(self, lines: Sequence[str]) -> None:
        self._target().writelines(lines)

    def flush(self) -> None:
        self._target().flush()

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, ...
        return getattr(self._target(), name)


class _StdinRouter:
    """``sys.stdin`` while actions are watched: a read through it (``read``, ``readline``,
    iterating it, ``input()``, ``pd.read_csv(sys.stdin)``, its ``buffer``) is noted on the
    reading action's step as a read of ``<stdin>``, which nothing can check again (so the
    step is never reused, and ``strict`` refuses it); other uses pass through unnoted."""

    __slots__ = ("stream",)

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def _read(self) -> Any:
        if _active:
            watch = _watch_here()
            if watch is not None:
                watch.read_stdin()
        return self.stream

    def read(self, *args: Any) -> Any:
        return self._read().read(*args)

    def readline(self, *args: Any) -> Any:
        return self._read().readline(*args)

    def readlines(self, *args: Any) -> Any:
        return self._read().readlines(*args)

    def __iter__(self) -> Any:
        return iter(self._read())

    def __next__(self) -> Any:
        return next(self._read())

    @property
    def buffer(self) -> Any:
        return self._read().buffer

    def __getattr__(self, name: str) -> Any:  # fileno, isatty, encoding, close, ...
        return getattr(self.stream, name)


def _outlives_its_step() -> bool:
    """Whether this thread was started by an action whose step has ended."""
    return getattr(threading.current_thread(), _THREAD_WATCH, None) is not None


def _route_warning(message: warnings.WarningMessage) -> None:
    watch, routed = _sink(), _routed
    if watch is not None:
        watch._warned(message)
    elif routed is not None and routed[3] is not None:
        routed[3](message)


def _began(watch: ActionWatch) -> None:
    global _active  # noqa: PLW0603 (one int the audit hook reads first, cheaply)
    with _watch_lock:
        if not _watches and (
            sys.stdout is not _routers[0]  # not held, or replaced between steps
            or sys.stderr is not _routers[1]
            or warnings.showwarning is not _ORIGINAL_SHOWWARNING
            or getattr(warnings, "_showwarnmsg_impl", None) is not _route_warning
            or sys.stdin is not _stdin[1]
        ):
            _route()
        _watches.append(watch)
        _active += 1


def _ended(watch: ActionWatch) -> None:
    """The last watch to stop puts back what the first replaced (an action that swapped a
    stream and did not restore it is cleaned up after, too); while a run holds the routers
    (``hold_routes``), they stay, put back in place if an action swapped them."""
    global _active  # noqa: PLW0603
    with _watch_lock:
        _watches.remove(watch)
        _active -= 1
        if _watches or _routed is None:
            return
        if _held:
            if sys.stdout is not _routers[0] or sys.stderr is not _routers[1]:
                sys.stdout, sys.stderr = _routers
            return
        _unroute()


def _route() -> None:
    """Put the routers in place, keeping what they replace (under ``_watch_lock``).

    Held between a run's steps, they are in place already (``_began`` does not call this),
    unless code between the steps replaced a stream or a warnings hook: then that is what
    is routed (and put back) now.
    """
    global _routed, _routers
    out, err = sys.stdout, sys.stderr
    show, impl = warnings.showwarning, getattr(warnings, "_showwarnmsg_impl", None)
    if _routed is None:
        _routed, _routers = (out, err, show, impl), (None, None)
    saved_out, saved_err, saved_show, saved_impl = _routed
    out_router, err_router = _routers
    if out is not out_router:
        saved_out, out_router = out, _Router(out, "out")
    if err is not err_router:
        saved_err, err_router = err, _Router(err, "err")
    if show is not _ORIGINAL_SHOWWARNING:
        saved_show = show
    if impl is not _route_warning:
        saved_impl = impl
    _routed, _routers = (saved_out, saved_err, saved_show, saved_impl), (out_router, err_router)
    sys.stdout, sys.stderr = out_router, err_router
    warnings.showwarning = _ORIGINAL_SHOWWARNING
    warnings._showwarnmsg_impl = _route_warning  # type: ignore[attr-defined]
    if sys.unraisablehook is sys.__unraisablehook__:
        sys.unraisablehook = _unraisable_unwatched
    _route_stdin()


def _route_stdin() -> None:
    """``sys.stdin`` while actions are watched: what an action reads from it is data the
    engine was not handed (``_StdinRouter``)."""
    global _stdin  # noqa: PLW0603
    stdin = sys.stdin
    if stdin is None or stdin is _stdin[1]:
        return
    _stdin = (stdin, _StdinRouter(stdin))
    sys.stdin = _stdin[1]


def _unroute() -> None:
    global _routed, _routers, _stdin  # noqa: PLW0603
    assert _routed is not None
    if _stdin[1] is not None and sys.stdin is _stdin[1]:
        sys.stdin = _stdin[0]  # unless an action replaced it: then that stays, as it did
    _stdin = (None, None)
    sys.stdout, sys.stderr, warnings.showwarning, impl = _routed
    if impl is not None:
        warnings._showwarnmsg_impl = impl  # type: ignore[attr-defined]
    if sys.unraisablehook is _unraisable_unwatched:
        sys.unraisablehook = sys.__unraisablehook__
    _routed, _routers = None, (None, None)


def _unraisable_unwatched(unraisable: Any) -> None:
    """``sys.unraisablehook`` while actions are watched: Python's own (C code, no linecache
    frame) reads the source lines of the traceback it prints for an exception raised in a
    ``__del__``, which were undeclared reads of the action's files."""
    with unwatched():
        sys.__unraisablehook__(unraisable)


_held = 0  # runs in progress that keep the routers between their steps (hold_routes)


def hold_routes() -> None:
    """Keep the routers in place between the steps of a run (until ``release_routes``):
    putting them in place and back at every step would cost more than a quiet action.
    Between steps they route every write to the stream they replaced."""
    global _held  # noqa: PLW0603
    _local.drives_runs = True  # see _sink
    with _watch_lock:
        _held += 1


def release_routes() -> None:
    """End a ``hold_routes``; the last one puts back what the routers replaced."""
    global _held  # noqa: PLW0603
    with _watch_lock:
        _held -= 1
        if not _held and not _watches and _routed is not None:
            _unroute()


# -- process-wide installation (once) --------------------------------------------------------

_ORIGINAL_SHOWWARNING = getattr(warnings, "_showwarning_orig", warnings.showwarning)


def install() -> None:
    """Install the audit hook and the clock probes once per process."""
    global _installed  # noqa: PLW0603
    if _installed:
        return
    with _install_lock:
        if _installed:
            return
        sys.addaudithook(_hook)
        os.environ.__class__ = _WatchedEnviron
        if isinstance(getattr(os, "environb", None), os._Environ):  # POSIX: the same data
            os.environb.__class__ = _WatchedEnviron  # type: ignore[assignment]
        threading.Thread.start = _start_thread  # type: ignore[method-assign]
        _thread.start_new_thread = _start_new_thread
        _thread.start_new = _start_new_thread  # its old alias
        ThreadPoolExecutor.submit = _submit  # type: ignore[method-assign,assignment]
        for name in _CLOCK_FUNCTIONS:
            setattr(time, name, _clock_probe(name, getattr(time, name)))
        for name in _CLOCK_WITH_ONE_ARG:
            if hasattr(time, name):  # clock_gettime is POSIX only
                setattr(
                    time, name, _clock_probe(name, getattr(time, name), _reads_clock_with_one_arg)
                )
        from reprolam.engine import entropy_probe, native_reads  # see each

        entropy_probe.install()  # os.urandom, uuid4, secrets
        native_reads.install()  # pyarrow, polars, h5py: files opened by native code
        native_reads.after_import("uuid", _watch_uuid1)  # uuid1 reads the clock in C
        native_reads.after_import("numpy.random", _numpy_random_imported)
        # processes started without os.fork (spawn, forkserver): once multiprocessing is used
        native_reads.after_import("multiprocessing.process", _watch_process_starts)
        _probe_path_checks()
        _installed = True


# Whether a path exists (or is a file, a directory) raises no audit event (os.stat has none):
# an action that looks for an optional file before opening it depends on its absence, which
# only a failed open showed, so --reuse took the result computed without a file now there.
_PATH_CHECKS = ("exists", "lexists", "isfile", "isdir")
_PATHLIB_CHECKS = ("exists", "is_file", "is_dir")


def _probe_path_checks() -> None:
    """``os.path.exists`` & co. and ``Path.exists`` & co., called by the action's own code,
    are reads of the path (its state recorded as a ``file_read``: ``missing`` when absent)."""
    import pathlib

    for name in _PATH_CHECKS:
        setattr(os.path, name, _path_check_probe(getattr(os.path, name)))
    os.access = _path_check_probe(os.access)  # os.access(path, os.R_OK): there, and readable
    for name in _PATHLIB_CHECKS:
        setattr(pathlib.Path, name, _path_check_probe(getattr(pathlib.Path, name)))


def _path_check_probe(real: Callable[..., bool]) -> Callable[..., bool]:
    @functools.wraps(real)
    def probe(path: Any, *args: Any, **kwargs: Any) -> bool:
        if _active and path not in ("", b""):  # "" names no file (realpath: the cwd)
            watch = _watch_here()
            if watch is not None and _users_path_check(sys._getframe(1)):
                # refused, under strict, when the step ends (see audit); no path (a NUL in
                # it) is what the check itself answers False for
                with contextlib.suppress(ValueError, TypeError, OSError):
                    watch.audit("file_read", _PATH_CHECK, (path,))
        return real(path, *args, **kwargs)

    return probe


_PATHLIB_GLOBBING = frozenset({"glob", "rglob", "_select_from"})


def _globbing(frame: Any) -> bool:
    module = frame.f_globals.get("__name__")
    return module == "glob" or (module == "pathlib" and frame.f_code.co_name in _PATHLIB_GLOBBING)


def _users_path_check(caller: Any) -> bool:
    """Whether a path check made in frame ``caller`` is the action's own code's (a library's
    checks come before reads the watch sees, or are its own business). ``glob("data.csv")``
    (no wildcard: no listing) and ``Path.glob`` check for the path for whoever called them."""
    while caller is not None and _globbing(caller):
        caller = caller.f_back
    if caller is None or str(caller.f_globals.get("__name__", "")).startswith("reprolam."):
        return False
    return not _installed_code(caller.f_code.co_filename) and not _importing(caller)


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if not _active:
        return
    kind = _EVENTS.get(event)
    if kind is None:
        return
    watch = _watch_here()
    if watch is not None:
        watch.audit(kind, event, args)


def _watch_here() -> ActionWatch | None:
    """The watch of the action running in this thread, or of the action that started it
    (a thread pool loading files for it): ``_start_thread`` marks the threads it starts."""
    watch: ActionWatch | None = getattr(_local, "watch", None)
    if watch is None:
        watch = getattr(threading.current_thread(), _THREAD_WATCH, None)
        if watch is None or watch._previous is _STOPPED:
            return None  # not an action's thread, or one outliving its action's step
    return watch


_THREAD_WATCH = "_reprolam_watch"  # set on a threading.Thread started by a watched action
_unwatched_start = threading.Thread.start


def _start_thread(self: threading.Thread) -> None:
    """``threading.Thread.start``, marking a thread an action starts with the action's watch."""
    if _active:
        watch = _watch_here()
        if watch is not None:
            setattr(self, _THREAD_WATCH, watch)
    _unwatched_start(self)


_unwatched_start_new_thread = _thread.start_new_thread


def _start_new_thread(function: Any, args: Any, kwargs: Any = _UNSEEN, /) -> int:
    """``_thread.start_new_thread``: a thread an action starts without ``threading`` runs
    its function as the action's (``threading`` binds its own, unchanged: a
    ``threading.Thread`` is marked by ``_start_thread``)."""
    if _active:
        watch = _watch_here()
        if watch is not None:
            function = functools.partial(_run_for, watch, function)
    if kwargs is _UNSEEN:
        return _unwatched_start_new_thread(function, args)
    return _unwatched_start_new_thread(function, args, kwargs)


def _watch_process_starts(module: ModuleType) -> None:
    """``BaseProcess.start`` reports a process the user's code starts by the spawn or
    forkserver method (no audit event: the fork method raises ``os.fork``, taken by the same
    rule) as a ``subprocess`` effect: its reads are never seen. Processes an installed
    package starts and manages (joblib's loky workers for ``n_jobs``, its multiprocessing
    backend) are the environment, as its clock is."""
    base = module.BaseProcess
    unwatched = base.start
    if getattr(unwatched, "__wrapped__", None) is not None:
        return

    @functools.wraps(unwatched)
    def start(self: Any) -> None:
        if _active:
            watch = _watch_here()
            if watch is not None:
                method = _start_method(self)
                if method != "fork" and _users_process(sys._getframe(1)):
                    watch.audit("subprocess", "multiprocessing", (method,))
        unwatched(self)

    base.start = start


def _start_method(process: Any) -> str:
    """How a ``multiprocessing`` process will start (the default context's, unless its class
    says), read without fixing the default as ``get_start_method()`` would."""
    method = getattr(process, "_start_method", None)
    if method is None:
        context = sys.modules["multiprocessing"]
        method = context.get_start_method(allow_none=True) or context.get_all_start_methods()[0]
    return str(method)


def _users_process(frame: Any) -> bool:
    """Whether the process being started comes from the action's code (with the standard
    library between: ``multiprocessing.Pool``, ``ProcessPoolExecutor``) and not from an
    installed package managing its own workers."""
    while frame is not None:
        if frame.f_globals is not _GLOBALS:  # this module's own: the patched start()
            if str(frame.f_globals.get("__name__", "")).startswith(_ENGINE):
                return True
            if _package_code(frame.f_code.co_filename):
                return False
        frame = frame.f_back
    return True


_unwatched_submit = ThreadPoolExecutor.submit


def _submit(self: ThreadPoolExecutor, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
    """``ThreadPoolExecutor.submit``: a task a watched action hands to a pool started before
    it (kept between steps, whose threads ``_start_thread`` did not mark for this action)
    runs with the action's watch on its thread, so what it reads is the action's."""
    if _active:
        watch = _watch_here()
        if watch is not None:
            fn = functools.partial(_run_for, watch, fn)
    return _unwatched_submit(self, fn, *args, **kwargs)


def _run_for(watch: ActionWatch, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
    thread = threading.current_thread()
    before = getattr(thread, _THREAD_WATCH, None)
    setattr(thread, _THREAD_WATCH, watch)  # a step that has ended: _watch_here ignores it
    try:
        return fn(*args, **kwargs)
    finally:
        setattr(thread, _THREAD_WATCH, before)


class _WatchedEnviron(os._Environ[str]):
    """``os.environ`` once the hook is installed: a lookup or a change made while an action
    is watched is reported to its watch (``os.getenv``, ``get`` and ``in`` all look up
    through ``__getitem__``); otherwise one comparison more than ``os._Environ``."""

    def __getitem__(self, key: Any) -> Any:
        if _active:
            _env_used(key, setting=False)
        return super().__getitem__(key)

    def __setitem__(self, key: Any, value: Any) -> None:
        if _active:
            _env_used(key, setting=True)
        super().__setitem__(key, value)

    def __delitem__(self, key: Any) -> None:
        if _active:
            _env_used(key, setting=True)
        super().__delitem__(key)

    def __iter__(self) -> Iterator[Any]:
        """Going through the names (``list(os.environ)``, and so ``dict(os.environ)``,
        ``{**os.environ}``, ``copy()``, ``items()``): a read of the whole environment."""
        if _active:
            _env_used(env_reads.WHOLE, setting=False)
        return super().__iter__()

    def __len__(self) -> int:
        if _active:
            _env_used(env_reads.WHOLE, setting=False)
        return super().__len__()


def _env_used(key: Any, *, setting: bool) -> None:
    """Report an ``os.environ`` (``os.environb``) lookup or change to the watch of this
    thread, if any."""
    watch = _watch_here()
    if watch is not None:
        if isinstance(key, bytes):
            key = os.fsdecode(key)
        watch.env(key, setting=setting, caller=sys._getframe(2))  # who used os.environ


_MAPPING_MODULES = ("os", "collections.abc")  # os.getenv; Mapping.get, __contains__ (whose
# module, _collections_abc, calls itself collections.abc)


@functools.lru_cache(maxsize=1024)
def _installed_code(filename: str) -> bool:
    """Whether a code object's file belongs to the Python installation or the OS (what its
    code reads is the environment it runs in, not the action's data)."""
    if filename.startswith("<"):
        return filename.startswith("<frozen")
    return file_reads.under(os.path.realpath(filename), file_reads.ignored_roots(None))


def _by_users_code(frame: Any) -> bool:
    """Whether the environment lookup made in ``frame`` (the caller of ``os.environ``'s
    method) is the user's own code, running as part of the action and not of an import."""
    while frame is not None and frame.f_globals.get("__name__") in _MAPPING_MODULES:
        frame = frame.f_back
    expanded = frame is not None and frame.f_code is _EXPANDVARS
    if expanded:  # os.path.expandvars("$DATA/raw.csv"): the variables of whoever called it
        frame = frame.f_back
    if frame is not None and not expanded and _installed_code(frame.f_code.co_filename):
        frame = _handed_environ_by(frame)
    if frame is None or str(frame.f_globals.get("__name__", "")).startswith("reprolam."):
        return False
    if _installed_code(frame.f_code.co_filename) or _importing(frame):
        return False
    return expanded or _reaches_environ(frame)


def _handed_environ_by(frame: Any) -> Any:
    """The code outside the installation that handed ``os.environ`` to the library looking
    a variable up in ``frame`` (``Template(...).substitute(os.environ)``,
    ``pd.Series(os.environ)``), or None: the library reads the environment for itself."""
    if not any(id(value) in _ENVIRON_IDS for value in frame.f_locals.values()):
        return None
    while frame is not None and _installed_code(frame.f_code.co_filename):
        frame = frame.f_back
    return frame


# os.path.expandvars looks variables up itself (the standard library: not the action's), for
# the code that called it: a path built from $DATA_DIR names another file when it changes
_EXPANDVARS = getattr(os.path.expandvars, "__code__", None)


def _reaches_environ(frame: Any) -> bool:
    """Whether the code running in ``frame`` uses ``os.environ`` itself. Compiled code has no
    frame: a lookup made by a Cython library the user's code calls (``pa.table()`` reads
    ``$PYARROW_IGNORE_TIMEZONE``) is seen from the user's frame, whose code names neither
    ``environ`` nor ``getenv`` nor holds the mapping."""
    names = frame.f_code.co_names
    if not _ENVIRON_NAMES.isdisjoint(names):
        return True
    bound = frame.f_globals  # `from os import environ as env`, `get = os.getenv`
    values = [bound.get(name) for name in names]
    values += frame.f_locals.values()
    if any(id(value) in _ENVIRON_IDS for value in values):
        return True
    # A comprehension or generator expression (its own frame before Python 3.12) iterating
    # ``os.environ.items()``: the function it is written in names the mapping
    caller = frame.f_back
    return (
        frame.f_code.co_name in _COMPREHENSIONS
        and caller is not None
        and (_reaches_environ(caller))
    )


_ENVIRON_NAMES = frozenset({"environ", "getenv", "environb", "getenvb"})  # environb: POSIX
_ENVIRON_IDS = frozenset(id(getattr(os, name)) for name in _ENVIRON_NAMES if hasattr(os, name))
_WHOLE_ENVIRONMENT = env_reads.target(env_reads.WHOLE)
_COMPREHENSIONS = frozenset({"<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>"})


def _reads_clock_unless_given_a_time(args: tuple[Any, ...]) -> bool:
    return not args  # localtime(secs) & co. convert the time they are given


def _reads_clock_with_one_arg(args: tuple[Any, ...]) -> bool:
    """``strftime(format)`` formats the time now (``strftime(format, t)`` the time given);
    ``clock_gettime(CLOCK_REALTIME)`` is ``time.time()``, a monotonic clock a duration."""
    return len(args) == 1 and (type(args[0]) is str or args[0] in _WALL_CLOCK_IDS)


def _clock_probe(
    name: str,
    real: Callable[..., Any],
    reads_clock: Callable[[tuple[Any, ...]], bool] = _reads_clock_unless_given_a_time,
) -> Callable[..., Any]:
    def probe(*args: Any) -> Any:
        if _active and reads_clock(args):
            watch = _watch_here()  # the threads an action starts read for it too
            if watch is not None and watch.watch_clock:
                caller: Any = sys._getframe(1)
                if caller.f_globals is _GLOBALS:  # _run_for: a pool task that is the clock
                    caller = caller.f_back
                if _users_clock_read(caller):
                    where = f"{caller.f_code.co_filename}:{caller.f_lineno}"
                    watch.note("clock", f"time.{name}() at {where}")
        return real(*args)

    probe.__name__ = probe.__qualname__ = name
    probe.__doc__ = real.__doc__
    probe.__wrapped__ = real  # type: ignore[attr-defined]
    return probe


def _watch_uuid1(module: ModuleType) -> None:
    """``uuid.uuid1()`` is the time now (and a clock sequence): through libuuid
    (``_generate_time_safe``, C code), it reads the clock without the ``time`` module, so a
    pure action's own call to it is noted as a clock read where ``uuid1`` was called."""
    real = getattr(module, "_generate_time_safe", None)
    if real is None or getattr(real, "__wrapped__", None) is not None:
        return  # uuid1 calls time.time_ns(): seen as such

    @functools.wraps(real)
    def generate(*args: Any) -> Any:
        if _active:
            watch = _watch_here()
            if watch is not None and watch.watch_clock:
                caller: Any = sys._getframe(1)
                while caller is not None and caller.f_globals.get("__name__") == "uuid":
                    caller = caller.f_back  # uuid1 itself: who called it
                if caller is not None and _users_clock_read(caller):
                    where = f"{caller.f_code.co_filename}:{caller.f_lineno}"
                    watch.note("clock", f"uuid.uuid1() at {where}")
        return real(*args)

    module._generate_time_safe = generate  # type: ignore[attr-defined]


def _users_clock_read(caller: Any) -> bool:
    """Whether a clock read made in frame ``caller`` can reach what the action computes: the
    user's code, or the standard library (``gzip.compress`` and ``zipfile`` write the time
    into the bytes they make). An installed package timing its own work (joblib tuning its
    batches for ``n_jobs``, a progress bar) and logging's timestamps do not."""
    module = str(caller.f_globals.get("__name__", ""))
    if module.startswith(("reprolam.", "logging")):
        return False
    return not _package_code(caller.f_code.co_filename) and not _importing(caller)


@functools.lru_cache(maxsize=1024)
def _package_code(filename: str) -> bool:
    """Whether a code object's file belongs to an installed package (site-packages)."""
    return file_reads.under(os.path.realpath(filename), file_reads.package_roots())


def _importing(caller: Any) -> bool:
    """Whether the action's code that read the clock (or a file, wrote one, started a
    process) runs as part of importing a module.

    What a module does when first imported (numpy.f2py stamps the time; dateutil builds its
    parser at import, which reads the year) happens once per process, in whichever action
    imports it first: that is the import, not what the action computes. Only the frames
    below the engine's are the action's (a script's or notebook's own top level is not an
    import).
    """
    if caller is None:
        return False
    if caller.f_code.co_name == "<module>":
        return True
    frame = caller.f_back
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        if str(frame.f_globals.get("__name__", "")).startswith(_ENGINE):
            return False
        frame = frame.f_back
    return False


_ENGINE = "reprolam.engine."
_OWN_PACKAGE = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))  # reprolam/
# (how many modules were loaded, their names) when last looked: a step imports new ones
# rarely, so the names are compared only when the count moved
_modules_seen: tuple[int, frozenset[str]] = (0, frozenset())


def _new_modules() -> list[str]:
    """The modules imported since the last look (and remember them)."""
    global _modules_seen  # noqa: PLW0603
    names = frozenset(sys.modules)
    new = names - _modules_seen[1]
    _modules_seen = (len(names), names)
    return sorted(new)


_GLOBALS = globals()


# -- global RNG marks ------------------------------------------------------------------------
# Reading a whole Mersenne Twister state costs tens of microseconds; its position and two
# words, read in place, change with every draw and every seeding, for about a microsecond.

_PY_STATE: Any = None  # (random._inst, ctypes view of its state), or False: layout differs
_NP_STATE: Any = None  # (bit generator, view of numpy's global MT19937 state), or False


def rng_marks() -> tuple[Any, ...]:
    global _PY_STATE, _NP_STATE  # noqa: PLW0603 (built once, on first use)
    py, np_ = _PY_STATE, _NP_STATE
    if py is None or (py is not False and py[0] is not random._inst):
        py = _PY_STATE = _python_view()  # first use, or random._inst was replaced
    if np_ is None and "numpy" in sys.modules:
        np_ = _NP_STATE = _numpy_view()
    if py is not False and np_:  # the usual case: two C calls
        return _PY_MARKS(py[1]) + _NP_MARKS(np_[1])  # type: ignore[no-any-return]
    marks: tuple[Any, ...]
    marks = (random.getstate(), None, None) if py is False else _PY_MARKS(py[1])
    if np_ is False:
        marks += (str(sys.modules["numpy"].random.get_state(legacy=False)),)
    return marks


_PY_MARKS = operator.itemgetter(0, 1, 624)  # random's index, state[0], state[623]
_NP_MARKS = operator.itemgetter(624, 0, 623)  # numpy MT19937's pos, key[0], key[623]


def _python_view() -> Any:
    """random._inst's ``index`` and ``state[624]`` in place (CPython's RandomObject layout)."""
    try:
        if sys.implementation.name != "cpython":
            return False
        import ctypes

        head = 2 * ctypes.sizeof(ctypes.c_void_p)  # PyObject_HEAD: refcount, type
        instance = random._inst
        view = (ctypes.c_uint32 * 625).from_address(id(instance) + head)
        _, state, _ = random.getstate()
        if (view[0], view[1], view[624]) != (state[-1], state[0], state[623]):
            return False
        return (instance, view)  # the instance is held: its memory stays what the view reads
    except Exception:
        return False


# numpy's global RNG marks as ``numpy.random`` was imported (seeded from OS entropy then)
_NP_AT_IMPORT: tuple[Any, ...] = ()


def _numpy_random_imported(module: ModuleType) -> None:
    global _NP_AT_IMPORT  # noqa: PLW0603 (taken once per process)
    state = module.mtrand._rand._bit_generator.state["state"]
    key = state["key"]
    _NP_AT_IMPORT = (int(state["pos"]), int(key[0]), int(key[623]))  # as _NP_MARKS reads them


def _numpy_untouched(before: tuple[Any, ...], after: tuple[Any, ...]) -> bool:
    """Whether numpy, imported during the action (its marks missing ``before``), left its
    global RNG as it was made at import: an action that imports numpy drew nothing from it."""
    return len(before) == 3 and after[3:] == _NP_AT_IMPORT


def _numpy_view() -> Any:
    try:
        import ctypes

        bit_generator = sys.modules["numpy"].random.mtrand._rand._bit_generator
        view = (ctypes.c_uint32 * 625).from_address(bit_generator.ctypes.state_address)
        state = bit_generator.state["state"]
        if (view[624], view[0]) != (state["pos"], state["key"][0]):
            return False
        return (bit_generator, view)
    except Exception:
        return False


def _holds_workdir(directory: str, workdir: str) -> bool:
    """Whether the resolved ``directory`` is one of the directories holding ``workdir``."""
    return file_reads.under(os.path.realpath(workdir), [directory])


def _address(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)
