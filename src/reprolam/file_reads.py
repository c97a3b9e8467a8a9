"""Files an action reads from paths outside the engine: a data dependency, made visible.

An action that opens ``/data/raw.csv`` itself (``pd.read_csv``, ``open``, a helper), lists
a directory (``os.listdir``, ``os.scandir``: ``glob``, ``os.walk``, ``Path.iterdir``), or
connects to a SQLite database (``sqlite3.connect("/data/db.sqlite")``, ``pd.read_sql`` over
it) depends on what that path held. ``engine.observe`` sees the read (the audit hook's
``open`` event in read mode, ``os.listdir``, ``os.scandir``, ``sqlite3.connect``) and
records it as a ``file_read`` effect; this module says which paths are not worth recording,
fingerprints what a path holds as the action first reads it (before the open, so a file it
then rewrites is recorded as it was read), and tells later whether the path still holds
what was read.

Not recorded: the Python installation (``sys.prefix``, ``sys.base_prefix``, the ``sysconfig``
paths: the standard library, site-packages, the venv) and the user's site-packages, the
operating system's files (``/etc``, ``/usr``, ``/proc``, ``/sys``, ``/dev``, ... see
``_SYSTEM_ROOTS``), the user's caches and tool settings (``~/.cache``, ``~/.config``), the
reprolam store (materialised input and output files, action workdirs), the scratch an
action made in the temp dir itself, ``__pycache__``, modules being imported (``observe`` checks
the frames) and source lines read for tracebacks (``linecache``).

A read is *declared* when the path (or a directory holding it) was handed to the action as
an input or a parameter value: a ``--no-copy`` input, a ``path=...`` param. Either way its
state is recorded, so a changed file is caught whether or not it was declared:

* a regular file up to ``HASH_CAP`` bytes: ``digest`` (the digest its content would get as a
  ``bytes`` artifact, i.e. as an input) and ``size``;
* a larger one: ``size`` and ``mtime_ns`` only (content not hashed);
* a directory: ``listing``, the digest of its sorted entry names, and ``entries``;
* a path that does not exist: ``missing`` (an action that looked for a file and did not find
  it depends on its absence);
* anything else: ``special`` (a FIFO or a device is never opened here), or ``unreadable``
  with the reason.
"""

from __future__ import annotations

import contextlib
import functools
import os
import stat
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

HASH_CAP = 64 * 1024 * 1024  # bytes: a larger file is recorded by size and mtime only
STATE_KEYS = ("digest", "size", "mtime_ns", "listing", "entries", "missing", "special")
FAILED_KEYS = ("unreadable", "unlisted", "unverifiable")  # states that vouch for nothing
# The operating system's own files: kernel views, configuration and shared data (time
# zones, mime types, certificates, fonts), like the Python installation part of the
# environment an action runs in, not data it is given. Refusing them under ``strict`` would
# refuse ``zoneinfo``, ``mimetypes`` or ``ssl`` in any action.
_SYSTEM_ROOTS = (
    "/proc", "/sys", "/dev", "/run", "/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32",
    "/lib64", "/var/cache", "/var/lib",
)  # fmt: skip


def _user_tool_roots() -> list[str]:
    """The user's caches and tool configuration (``~/.cache``, ``~/.config`` or their XDG
    places): font caches, library settings, downloaded model caches."""
    home = os.path.expanduser("~")
    return [
        os.environ.get("XDG_CACHE_HOME") or os.path.join(home, ".cache"),
        os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config"),
    ]


@functools.cache
def package_roots() -> tuple[str, ...]:
    """Where installed packages live (site-packages, the user's too), resolved."""
    import site
    import sysconfig

    paths = sysconfig.get_paths()
    roots = [paths.get("purelib", ""), paths.get("platlib", "")]
    with contextlib.suppress(AttributeError, OSError):  # embedded or isolated interpreters
        roots += [*site.getsitepackages(), site.getusersitepackages()]
    return tuple(dict.fromkeys(os.path.realpath(r) for r in roots if r))


def uri_path(uri: Any) -> str | None:
    """The local path a split ``file:`` URI (``urllib.parse.urlsplit``) names; None when it
    names another host's file."""
    from urllib.parse import unquote

    return unquote(uri.path) if uri.netloc in ("", "localhost") else None


def wal_of(database: str) -> str | None:
    """A SQLite database's ``-wal`` file, when there is one (WAL mode: what was committed
    since the last checkpoint is there, not in the database file)."""
    log = database + "-wal"
    return log if os.path.exists(log) else None


_REAL_DIRS: dict[str, str] = {}  # directory -> its realpath, resolved once per process
_REAL_DIRS_MAX = 8192


def real_file(path: str) -> str:
    """``os.path.realpath(path)`` of an absolute path, its directory resolved once per process:
    an action that imports scikit-learn gives ~1,400 module files to resolve in ~200
    directories, and ``realpath`` costs an ``lstat`` and Python work per path component
    (0.1 s for those files). The file itself is checked for being a link every time; a
    relative path is resolved by ``realpath`` itself (``..`` after a link is not lexical)."""
    head, tail = os.path.split(path)
    if not os.path.isabs(path) or tail in ("", ".", "..") or os.path.islink(path):
        return os.path.realpath(path)
    real = _REAL_DIRS.get(head)
    if real is None:
        if len(_REAL_DIRS) >= _REAL_DIRS_MAX:
            _REAL_DIRS.clear()
        real = _REAL_DIRS[head] = os.path.realpath(head)
    return os.path.join(real, tail)


@functools.cache
def _installation_roots() -> tuple[str, ...]:
    """The Python installation: prefixes, the sysconfig paths, the user's site-packages."""
    import site
    import sysconfig

    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths.update(sysconfig.get_paths().values())
    with contextlib.suppress(AttributeError, OSError):  # embedded or isolated interpreters
        paths.add(site.getusersitepackages())
    return tuple(os.path.realpath(p) for p in paths if p)


@functools.lru_cache(maxsize=8)
def ignored_roots(workdir: str | None) -> tuple[str, ...]:
    """The directories whose reads are not recorded, for actions whose workdirs go under
    ``workdir`` (``<store>/files/work``: the store directory holding it is ignored).

    The temp dir is not one of them: data kept in ``/tmp`` (a download, a test's
    ``tmp_path``) is data like any other. What an action makes there itself (a temporary
    file, a ``mkdtemp`` directory and what is written into it) is its scratch, not a read
    (``engine.observe`` keeps the paths it wrote)."""
    roots = [*_installation_roots(), *_SYSTEM_ROOTS]
    roots += [os.path.realpath(p) for p in _user_tool_roots()]
    if workdir:  # <files root>/work: materialised files and workdirs are the store's
        files_root = os.path.dirname(os.path.realpath(workdir))
        # a store's files root is <store>/files: its blobs and trace are the store's too
        roots.append(
            os.path.dirname(files_root) if os.path.basename(files_root) == "files" else files_root
        )
    return tuple(root.rstrip(os.sep) for root in roots)


def under(path: str, roots: Iterable[str]) -> bool:
    """Whether ``path`` (resolved) is one of ``roots`` or inside one (roots end without /)."""
    if type(roots) is tuple:  # the common case, on every file an import opens: one C call
        exact, prefixes = _prefixes(roots)
        return path.startswith(prefixes) or path in exact
    return any(path == root or path.startswith(root + os.sep) for root in roots)


def under_any(paths: Iterable[str], root: str) -> bool:
    """Whether one of ``paths`` (resolved) is ``root`` or inside it."""
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for path in paths)


@functools.lru_cache(maxsize=64)
def _prefixes(roots: tuple[str, ...]) -> tuple[frozenset[str], tuple[str, ...]]:
    return frozenset(roots), tuple(root + os.sep for root in roots)


_PATH_MAX = 4096  # a longer string is text, not a path


def given_paths(inputs: Iterable[Any], params: Mapping[str, Any]) -> tuple[str, ...]:
    """The resolved paths handed to an action, the roots of its declared reads."""
    found: list[str] = []
    for item in _path_candidates(inputs, params):
        if isinstance(item, os.PathLike) or (isinstance(item, str) and 0 < len(item) <= _PATH_MAX):
            # "~/data/raw.csv": the file the action opens (with expanduser)
            path = os.path.expanduser(item) if isinstance(item, str) else item
            try:
                found.append(os.path.realpath(os.fspath(path)).rstrip(os.sep) or os.sep)
            except (TypeError, ValueError, OSError):  # a NUL in a string: not a path
                continue
    return tuple(found)


def _path_candidates(inputs: Iterable[Any], params: Mapping[str, Any]) -> Iterator[Any]:
    """Inputs and params, and the items of a list or tuple of them, and the values of a
    param's dict (``files={"train": PATH, ...}``); of an input's list, only paths (a list
    of strings handed as data is not a list of paths)."""
    for value in inputs:
        if isinstance(value, list | tuple):
            yield from (item for item in value if isinstance(item, os.PathLike))
        else:
            yield value
    for value in params.values():
        if isinstance(value, Mapping):
            value = list(value.values())  # noqa: PLW2901
        yield from value if isinstance(value, list | tuple) else (value,)


def file_state(path: str) -> dict[str, Any]:
    """What ``path`` holds now, as a ``file_read`` effect records it (never raises)."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return {"missing": True}
    except OSError as exc:
        return {"unreadable": exc.strerror or str(exc)}
    try:
        if stat.S_ISDIR(st.st_mode):
            from reprolam.hashing import canonical_json_bytes, digest

            names = sorted(os.listdir(path))
            return {"listing": digest(canonical_json_bytes(names)), "entries": len(names)}
        if not stat.S_ISREG(st.st_mode):
            return {"special": stat.filemode(st.st_mode)[0]}  # never opened: it may block
        if st.st_size > HASH_CAP:
            return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
        from reprolam.files import hashed_file

        content, size = hashed_file(path)  # the size of what the digest is of
        return {"digest": content, "size": size}
    except OSError as exc:
        return {"unreadable": exc.strerror or str(exc)}


def recorded_state(effect: Mapping[str, Any]) -> dict[str, Any]:
    return {k: effect[k] for k in (*STATE_KEYS, *FAILED_KEYS) if k in effect}


def change(old: Mapping[str, Any], new: Mapping[str, Any]) -> str | None:
    """Why ``new`` is not the state ``old`` recorded (both from ``file_state``), or None."""
    if old.get("unlisted"):
        return (
            "read with more files than the step lists (or more variables): the others cannot "
            "be checked"
        )
    if "unverifiable" in old:
        return str(old["unverifiable"])
    if "unreadable" in old:
        return f"could not be read when recorded ({old['unreadable']}): it cannot be checked"
    if "unreadable" in new:
        return f"cannot be read now ({new['unreadable']})"
    if old == new:
        return None
    if new.get("missing"):
        return "deleted since the recorded run"
    if old.get("missing"):
        return "created since the recorded run (it did not exist then)"
    if "digest" in old and "digest" in new:
        return (
            "content changed since the recorded run "
            f"(digest {str(old['digest'])[:12]} -> {str(new['digest'])[:12]})"
        )
    if "listing" in old and "listing" in new:
        return f"entries changed since the recorded run ({old['entries']} -> {new['entries']})"
    if old.get("size") != new.get("size"):
        return f"size changed since the recorded run ({old.get('size')} -> {new.get('size')} bytes)"
    if "mtime_ns" in old:
        cap = HASH_CAP // (1024 * 1024)
        return (
            "modified since the recorded run (same size; content not hashed: over the "
            f"{cap} MiB cap)"
        )
    return "changed since the recorded run (it is not the same kind of file)"


def read_change(effect: Mapping[str, Any], now: Mapping[str, Any] | None = None) -> str | None:
    """Why the path a recorded ``file_read`` effect read no longer holds what was read, or
    None; ``now`` is its state as read again (by default, the path's state at this moment)."""
    old = recorded_state(effect)
    relative = effect.get("relative")
    if isinstance(relative, str):  # opened by a path relative to the working directory
        here = real_file(relative)
        if here != effect.get("target"):
            return (
                f"{relative!r} names {here} from this working directory, not the file it read "
                f"({effect.get('target')}): run it from the directory it ran in"
            )
    if now is None and not any(key in old for key in FAILED_KEYS):
        now = file_state(str(effect.get("target")))
    return change(old, now or {})


def describe_state(effect: Mapping[str, Any]) -> str:
    """`` [blake3 8b20e98947c6, 1.2 KiB]`` and the like, or '' for an effect of no state."""
    if "digest" in effect:
        said = f"blake3 {str(effect['digest'])[:12]}, {_size(effect.get('size'))}"
    elif "mtime_ns" in effect:
        said = f"{_size(effect.get('size'))}, content not hashed (over the cap)"
    elif "listing" in effect:
        said = f"directory of {effect.get('entries')} entries"
    elif effect.get("missing"):
        said = "did not exist"
    elif "special" in effect:
        said = "not a regular file: not hashed"
    elif "unreadable" in effect:
        said = f"could not be hashed: {effect['unreadable']}"
    else:
        return ""
    return f" [{said}]"


def _size(size: Any) -> str:
    if not isinstance(size, int):
        return "? bytes"
    if size < 1024:
        return f"{size} bytes"
    amount = size / 1024
    for unit in ("KiB", "MiB"):
        if amount < 1024:
            return f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} GiB"


READ_FIX = (
    "declare it: make it a workflow input handed to the action (workflow(..., inputs=[NAME]), "
    "run with inputs={NAME: PATH}) or a param"
)
