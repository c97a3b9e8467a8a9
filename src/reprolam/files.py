"""Files and directories as artifacts: stored content-addressed, handed out read-only.

An action writes its output files into ``ctx.workdir`` and returns their ``Path``; the
engine stores each file's content as a ``bytes`` artifact (streamed: hashed while it is
copied, never read whole into memory) and records a manifest (``codecs._files``) as the
output. A directory is a manifest of its whole tree. Downstream actions, forks and
reproductions receive a materialised, read-only copy under the store's ``files/``
directory, named by the manifest's digest, so equal artifacts are materialised once.

External data enters the same way through ``--input NAME=PATH`` (``store_path``); with
``copy=False`` only the digests are recorded (``hash_path``) and actions read the original.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Protocol

from blake3 import blake3

from reprolam.codecs._bytes import MAGIC
from reprolam.codecs._files import DirEntry, DirManifest, FileManifest
from reprolam.errors import ReprolamError, StoreError
from reprolam.trace.blobs import file_chunks
from reprolam.trace.contract import TraceStore

Manifest = FileManifest | DirManifest
_EXEC = stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH


class FileArtifactError(ReprolamError):
    """A file or directory cannot become an artifact (a symlink, a device, unreadable)."""


def files_root(store: TraceStore) -> Path:
    """Where materialised files and action workdirs live: next to the store's blobs."""
    blobs = getattr(store, "blobs", None)
    if blobs is not None:
        return (Path(blobs.path).parent / "files").absolute()
    return _scratch()


@cache
def _scratch() -> Path:
    """One directory per process for stores without a directory (memory)."""
    return Path(tempfile.mkdtemp(prefix="reprolam-files-"))


def _mode(st: os.stat_result) -> int:
    return 0o755 if st.st_mode & _EXEC else 0o644


def _walk(root: Path) -> Iterator[tuple[str, Path, os.stat_result]]:
    """Every entry under ``root`` (relative POSIX path, path, lstat), sorted, links refused."""
    stack = [root]
    while stack:
        directory = stack.pop()
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            path = Path(entry.path)
            st = entry.stat(follow_symlinks=False)
            relative = path.relative_to(root).as_posix()
            if stat.S_ISLNK(st.st_mode) or not (
                stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)
            ):
                raise FileArtifactError(
                    f"{path} is a symbolic link or special file: a directory artifact holds "
                    "only regular files and directories (copy the target in instead)"
                )
            yield relative, path, st
            if stat.S_ISDIR(st.st_mode):
                stack.append(path)


def hash_file(path: str | os.PathLike[str]) -> str:
    """The digest a file's content gets as a ``bytes`` artifact, computed by streaming."""
    return hashed_file(path)[0]


def hashed_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """``hash_file``'s digest and the size of the content it is of, as read (a file growing
    while it is read, or one whose stat says 0 bytes, ``/proc``'s)."""
    hasher, size = blake3(max_threads=blake3.AUTO), -len(MAGIC)
    for chunk in file_chunks(path, MAGIC):
        hasher.update(chunk)
        size += len(chunk)
    return hasher.hexdigest(), size


def _content(store: TraceStore | None, path: Path) -> tuple[str, int]:
    """The content's digest and size, as read: a file growing while it is read (a log) or
    one whose stat says 0 (/proc) is recorded by the bytes its digest is of."""
    if store is None:
        return hashed_file(path)
    record = store.put_file(path, codec="bytes", prefix=MAGIC)
    return record.digest, record.size - len(MAGIC)


def _read(
    store: TraceStore | None, path: str | os.PathLike[str], follow_links: bool = False
) -> Manifest:
    path = Path(path)
    try:
        st = path.stat() if follow_links else path.lstat()
        _check_utf8(path.name, path)
        if stat.S_ISREG(st.st_mode):
            content, size = _content(store, path)
            return FileManifest(path.name, _mode(st), size, content, str(path))
        if stat.S_ISLNK(st.st_mode):  # an action's output (an input's link is followed)
            raise FileArtifactError(
                f"{path} is a symbolic link: a file artifact holds a file's content, not a "
                "link to it; copy the file it points to into ctx.workdir instead"
            )
        if not stat.S_ISDIR(st.st_mode):
            raise FileArtifactError(
                f"{path} is not a regular file or directory: pass a file or a directory"
            )
        entries = []
        for relative, item, item_st in _walk(path):
            _check_utf8(relative, item)
            if stat.S_ISDIR(item_st.st_mode):
                if not any(os.scandir(item)):  # only empty directories need an entry
                    entries.append(DirEntry(relative, 0o755, 0, None))
                continue
            content, size = _content(store, item)
            entries.append(DirEntry(relative, _mode(item_st), size, content))
        return DirManifest(path.name, tuple(sorted(entries, key=lambda e: e.path)), str(path))
    except OSError as exc:
        raise FileArtifactError(
            f"cannot read {exc.filename or path}: {exc.strerror or exc}"
        ) from exc


def _check_utf8(name: str, path: Path) -> None:
    """A manifest records names as UTF-8 text: a name in another encoding (``caf\\xe9.csv``
    written as Latin-1, which Python reads as a lone surrogate) cannot be recorded."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(path).decode("utf-8", "backslashreplace")
        raise FileArtifactError(
            f"{shown}: its name is not UTF-8, and a file artifact records names as UTF-8 "
            "text: rename it with a UTF-8 name"
        ) from None


def store_path(
    store: TraceStore, path: str | os.PathLike[str], *, follow_links: bool = False
) -> Manifest:
    """Store a file or a directory tree's contents; returns the manifest to record.

    ``follow_links``: ``path`` itself may be a symbolic link (an input named by a link, as
    ``cp`` follows one); links inside a directory are refused either way.
    """
    return _read(store, path, follow_links)


def hash_path(path: str | os.PathLike[str], *, follow_links: bool = False) -> Manifest:
    """The manifest a file or directory would get, without storing its contents."""
    return _read(None, path, follow_links)


# A file modified within this long of the moment its stat was taken may change again
# without its size or mtime showing it (mtime granularity, clock skew): such a "racily
# clean" stat is confirmed by content, as git does for its index.
RACY_NS = 100_000_000

Signature = tuple[tuple[str, int, int], ...]


def signature(path: str | os.PathLike[str]) -> Signature:
    """Size and mtime_ns of ``path`` (followed if a link) and, for a directory, of every
    entry under it: what changes when anything is written there. OSError if it is gone."""
    path = Path(path)
    st = path.stat()
    found = [("", st.st_size, st.st_mtime_ns)]
    if stat.S_ISDIR(st.st_mode):
        found += [(rel, item.st_size, item.st_mtime_ns) for rel, _p, item in _walk(path)]
    return tuple(found)


def racy(sig: Signature, taken_ns: int) -> bool:
    """Whether a stat taken at ``taken_ns`` cannot vouch for the content (see RACY_NS)."""
    return any(mtime >= taken_ns - RACY_NS for _rel, _size, mtime in sig)


Stamped = tuple[Signature, int]  # a signature and when it was taken (time.time_ns)


def stamped_signature(path: str | os.PathLike[str]) -> Stamped | None:
    """The signature of ``path`` and when it was taken (None: gone or unreadable)."""
    taken = time.time_ns()
    try:
        return signature(path), taken
    except (OSError, FileArtifactError):
        return None


def vouches(before: Stamped | None, now: Stamped | None) -> bool:
    """Whether two stamped stats show a path unchanged without reading it: both taken,
    equal, and the earlier one not racily clean."""
    return before is not None and now is not None and now[0] == before[0] and not racy(*before)


def _copy_content(store: TraceStore, content: str, target: Path, mode: int) -> None:
    """Stream a stored content artifact into ``target`` (verified before it is kept)."""
    # the name cut short: a file name may be 255 bytes long, and so may this one
    tmp = target.with_name(f".{target.name[:64]}.{secrets.token_hex(4)}.tmp")
    if store.get_artifact_record(content).codec != "bytes":
        raise StoreError(f"artifact {content} is not file content (codec is not bytes)")
    try:
        store.artifact_to_file(content, tmp, skip=len(MAGIC))  # verified against the digest
        os.chmod(tmp, 0o555 if mode & _EXEC else 0o444)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_manifest(store: TraceStore, manifest: Manifest, target: Path) -> Path:
    """Write a file or directory artifact to ``target`` (which must not exist yet)."""
    if isinstance(manifest, FileManifest):
        _copy_content(store, manifest.content, target, manifest.mode)
        return target
    target.mkdir(parents=True)
    for entry in manifest.entries:
        where = target.joinpath(*entry.path.split("/"))
        if entry.content is None:
            where.mkdir(parents=True, exist_ok=True)
            continue
        where.parent.mkdir(parents=True, exist_ok=True)
        _copy_content(store, entry.content, where, entry.mode)
    return target


def _read_only(path: Path) -> None:
    """Directories 0o555 bottom-up, after their files were made read-only on creation."""
    if path.is_dir():
        for sub in sorted((p for p in path.rglob("*") if p.is_dir()), reverse=True):
            sub.chmod(0o555)
        path.chmod(0o555)


# A materialised copy carries this mtime on every entry: writing into one (or adding to or
# removing from one of its directories) gives it another, which a stat shows without reading.
KEPT_MTIME_NS = 1_000_000_000 * 10**9


def _stamp(path: Path) -> None:
    """Give every entry of a materialised copy the kept mtime (best effort: a copy another
    user owns stays unstamped and is checked by content instead)."""
    items = [path] + [item for _rel, item, _st in _walk(path)] if path.is_dir() else [path]
    try:
        for item in items:
            os.utime(item, ns=(KEPT_MTIME_NS, KEPT_MTIME_NS), follow_symlinks=False)
    except OSError:
        pass


def _same(a: Manifest, b: Manifest) -> bool:
    if isinstance(a, FileManifest) and isinstance(b, FileManifest):
        return a.to_dict() == b.to_dict()
    return isinstance(a, DirManifest) and isinstance(b, DirManifest) and a.entries == b.entries


def _holds(path: Path, manifest: Manifest) -> bool:
    """Whether the materialised copy at ``path`` still holds ``manifest``: by its stamp, or
    (written to, touched, made before stamps) by content, stamped again when it matches."""
    try:
        sig = signature(path)
        if all(mtime == KEPT_MTIME_NS for _rel, _size, mtime in sig) and (
            isinstance(manifest, DirManifest) or sig[0][1] == manifest.size
        ):
            return True
        if not _same(hash_path(path), manifest):
            return False
    except (OSError, FileArtifactError):
        return False
    _stamp(path)
    return True


def materialize(store: TraceStore, manifest: Manifest, key: str) -> Path:
    """A read-only path holding artifact ``key`` (materialised once per store and digest).

    An existing copy is checked first: one that something wrote into (an action that made
    its input writable, a hand in the files directory) is made again from the store's
    verified bytes, so every reader reads what the record names.
    """
    home = files_root(store) / key[:2] / key[2:]
    final = home / manifest.name
    if final.exists():
        if _holds(final, manifest):
            return final
        remove_tree(home)
    home.parent.mkdir(parents=True, exist_ok=True)
    staging = home.parent / f".{key[2:]}.{secrets.token_hex(4)}"
    staging.mkdir()
    try:
        made = write_manifest(store, manifest, staging / manifest.name)
        _read_only(made)
        _stamp(made)
        try:
            os.replace(staging, home)
        except OSError:  # another process materialised it first
            if not final.exists():
                raise
    finally:
        if staging.exists():
            remove_tree(staging)
    return final


def adopt(store: TraceStore, manifest: Manifest, key: str, source: Path) -> Path:
    """Like ``materialize``, but move the action's own output (already stored) into place."""
    home = files_root(store) / key[:2] / key[2:]
    final = home / manifest.name
    if final.exists():
        if _holds(final, manifest):
            return final
        remove_tree(home)
    try:
        home.mkdir(parents=True, exist_ok=True)
        os.replace(source, final)
        if final.is_file():
            final.chmod(0o555 if manifest.mode & _EXEC else 0o444)  # type: ignore[union-attr]
        else:
            for item in final.rglob("*"):
                if item.is_file():
                    item.chmod(0o555 if item.stat().st_mode & _EXEC else 0o444)
            _read_only(final)
        _stamp(final)
        return final
    except OSError:  # another file system: copy from the store instead
        return materialize(store, manifest, key)


class HandedOut(Protocol):
    """A path a run hands its actions in place of a stored value, checked at each hand-out
    (``KeptCopy`` here, ``engine.inputs.UncopiedInput``)."""

    def check(self) -> None:
        """Make sure the path still holds what the record names, or raise."""


@dataclass(frozen=True, slots=True)
class KeptCopy:
    """A materialised artifact a run hands its actions: checked each time it is handed out
    (a stat), remade from the store if an earlier action wrote into it."""

    store: TraceStore
    manifest: Manifest
    key: str

    def check(self) -> None:
        materialize(self.store, self.manifest, self.key)


def remove_tree(path: str | os.PathLike[str]) -> None:
    """Delete a tree even where it was made read-only (workdirs, staging copies)."""
    for root, dirs, _files in os.walk(path):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o755)
    if os.path.isdir(path):
        os.chmod(path, 0o755)
    shutil.rmtree(path, ignore_errors=True)
