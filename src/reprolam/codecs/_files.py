"""The ``file`` and ``dir`` codecs: manifests of file and directory artifacts.

A file artifact is stored as two things: its content, as a ``bytes`` artifact streamed
into the store (``reprolam.files``), and this manifest, which names it::

    \\x93RLF + canonical JSON {"format": "reprolam-file/1", "name", "mode", "size", "content"}
    \\x93RLF + canonical JSON {"format": "reprolam-dir/1", "name", "entries": [...]}

``name`` is the base name (an extension matters to the next tool), ``mode`` only the
executable bit (``0o755`` or ``0o644``; owners, times and umask are not data), ``content``
the digest of the content artifact. A directory lists every file and empty directory
under it by POSIX relative path, sorted, so equal trees give equal bytes on any machine.
Symbolic links, devices and sockets are refused when the tree is read.

Decoding gives the manifest (``FileManifest`` / ``DirManifest``), not the bytes: the
engine turns a manifest into a read-only path on disk (``reprolam.files.materialize``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from reprolam.errors import CodecError
from reprolam.hashing import canonical_json_bytes

MAGIC = b"\x93RLF"
FILE_FORMAT = "reprolam-file/1"
DIR_FORMAT = "reprolam-dir/1"


@dataclass(frozen=True, slots=True)
class FileManifest:
    """One file: base name, executable or not, size and the digest of its content."""

    name: str
    mode: int
    size: int
    content: str
    source: str | None = None  # not stored: the path it was read from (inputs)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "mode": self.mode, "size": self.size, "content": self.content}


@dataclass(frozen=True, slots=True)
class DirEntry:
    path: str  # POSIX, relative to the directory
    mode: int
    size: int
    content: str | None  # None: an empty directory

    def to_list(self) -> list[Any]:
        return [self.path, self.mode, self.size, self.content]


@dataclass(frozen=True, slots=True)
class DirManifest:
    """A directory tree: its base name and every entry, sorted by relative path."""

    name: str
    entries: tuple[DirEntry, ...]
    source: str | None = None

    @property
    def size(self) -> int:
        return sum(entry.size for entry in self.entries)


def _load(data: bytes, what: str) -> dict[str, Any]:
    if data[: len(MAGIC)] != MAGIC:
        raise CodecError(f"{what} manifest lacks its magic prefix; the artifact is corrupt")
    try:
        header = json.loads(data[len(MAGIC) :].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CodecError(f"{what} manifest is not valid JSON: {exc}") from exc
    if type(header) is not dict:
        raise CodecError(f"{what} manifest is not a JSON object")
    return header


def _check_name(name: Any, what: str) -> str:
    if type(name) is not str or not name or "/" in name or name in (".", ".."):
        raise CodecError(f"{what} manifest has an unsafe name {str(name)[:80]!r}")
    return name


def _check_relative(path: Any) -> str:
    parts = path.split("/") if type(path) is str else [""]
    if any(part in ("", ".", "..") for part in parts):
        raise CodecError(f"dir manifest has an unsafe entry path {str(path)[:80]!r}")
    return str(path)


class FileCodec:
    tag = "file"

    def can_encode(self, value: Any) -> bool:
        return type(value) is FileManifest

    def try_encode(self, value: Any) -> bytes | None:
        return self.encode(value) if type(value) is FileManifest else None

    def encode(self, value: Any) -> bytes:
        if type(value) is not FileManifest:
            raise CodecError(f"file codec cannot encode {type(value).__name__}")
        return MAGIC + canonical_json_bytes({"format": FILE_FORMAT, **value.to_dict()})

    def decode(self, data: bytes) -> Any:
        header = _load(data, "file")
        if header.get("format") != FILE_FORMAT:
            raise CodecError(f"file manifest has format {header.get('format')!r}")
        try:
            return FileManifest(
                _check_name(header["name"], "file"),
                int(header["mode"]),
                int(header["size"]),
                str(header["content"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CodecError(f"file manifest is malformed: {exc}") from exc


class DirCodec:
    tag = "dir"

    def can_encode(self, value: Any) -> bool:
        return type(value) is DirManifest

    def try_encode(self, value: Any) -> bytes | None:
        return self.encode(value) if type(value) is DirManifest else None

    def encode(self, value: Any) -> bytes:
        if type(value) is not DirManifest:
            raise CodecError(f"dir codec cannot encode {type(value).__name__}")
        entries = [e.to_list() for e in sorted(value.entries, key=lambda e: e.path)]
        header = {"format": DIR_FORMAT, "name": value.name, "entries": entries}
        return MAGIC + canonical_json_bytes(header)

    def decode(self, data: bytes) -> Any:
        header = _load(data, "dir")
        if header.get("format") != DIR_FORMAT:
            raise CodecError(f"dir manifest has format {header.get('format')!r}")
        try:
            entries = tuple(
                DirEntry(_check_relative(p), int(m), int(s), None if c is None else str(c))
                for p, m, s, c in header["entries"]
            )
            return DirManifest(_check_name(header["name"], "dir"), entries)
        except (KeyError, TypeError, ValueError) as exc:
            raise CodecError(f"dir manifest is malformed: {exc}") from exc


MANIFEST_CODECS = frozenset({FileCodec.tag, DirCodec.tag})  # their contents are artifacts too


def contents_of(codec: str, data: bytes) -> list[str]:
    """The content artifacts a ``file`` or ``dir`` manifest names (none for other codecs):
    what a copy of the manifest must carry for the file to be readable at the other end."""
    if codec == FileCodec.tag:
        return [FileCodec().decode(data).content]
    if codec == DirCodec.tag:
        entries = DirCodec().decode(data).entries
        return list(dict.fromkeys(e.content for e in entries if e.content is not None))
    return []
