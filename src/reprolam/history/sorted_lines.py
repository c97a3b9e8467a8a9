"""Keyed lines collected in any order, hashed in key order, in bounded memory.

A version-1 seal covers one line per artifact its trace refers to, sorted by digest
(``trace.anchor.artifact_metadata``). Verifying a long run as a stream meets those digests
in step order; holding them all would make memory grow with the run. So past ``LIMIT``
lines, the lines held are sorted and written to a temporary file as a run of small
``marshal`` blocks, and the runs are merged when the hash is taken (one block per run in
memory then).
"""

from __future__ import annotations

import heapq
import marshal
import os
import tempfile
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import IO

from blake3 import blake3

LIMIT = 2048  # lines held before they are spilled (about 300 KB)
BLOCK = 32  # lines per block read back while merging (one block per spilled run in memory)
_HASHED = 1024  # lines joined per hasher update


class SortedLines:
    """``add(key, rest)`` in any order; ``hexdigest()`` of the ``"key rest"`` lines joined
    by newlines, sorted by key, each key once (a key added again comes with the same rest:
    what the store records of that artifact)."""

    def __init__(self) -> None:
        self._held: dict[str, str] = {}
        self._file: IO[bytes] | None = None
        self._runs: list[list[tuple[int, int]]] = []  # per run: (offset, length) of blocks

    def add(self, key: str, rest: str) -> None:
        held = self._held
        if key not in held:
            held[key] = rest
            if len(held) >= LIMIT:
                self._spill()

    def update(self, lines: Iterable[tuple[str, str]]) -> None:
        """``add`` of each ``(key, rest)``, in order."""
        held = self._held
        for key, rest in lines:
            if key not in held:
                held[key] = rest
        if len(held) >= LIMIT:
            self._spill()

    def hexdigest(self) -> str:
        hasher = blake3()
        held = self._sorted()
        if not self._runs:  # at most ``LIMIT`` lines and a page: hashed at once
            text = "\n".join([f"{key} {rest}" for key, rest in held])
            hasher.update(text.encode("utf-8", "surrogatepass"))
            return hasher.hexdigest()
        batch: list[str] = []
        separator = ""
        last: str | None = None
        for key, rest in heapq.merge(*[self._read(run) for run in self._runs], held):
            if key != last:  # a key met again after it was spilled is said once
                batch.append(f"{key} {rest}")
                last = key
                if len(batch) >= _HASHED:
                    hasher.update((separator + "\n".join(batch)).encode("utf-8", "surrogatepass"))
                    separator, batch = "\n", []
        if batch:
            hasher.update((separator + "\n".join(batch)).encode("utf-8", "surrogatepass"))
        return hasher.hexdigest()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _spill(self) -> None:
        if self._file is None:
            # Closed by ``close`` (verify_trace's finally), or with the object.
            self._file = tempfile.TemporaryFile(prefix="reprolam-seal-")  # noqa: SIM115
        out = self._file
        out.seek(0, os.SEEK_END)
        lines = self._sorted()
        blocks: list[tuple[int, int]] = []
        for start in range(0, len(lines), BLOCK):
            data = marshal.dumps(lines[start : start + BLOCK])
            blocks.append((out.tell(), len(data)))
            out.write(data)
        out.flush()
        self._runs.append(blocks)
        self._held = {}

    def _sorted(self) -> list[tuple[str, str]]:
        held = self._held  # sorting the keys alone (strings) is faster than sorting pairs
        return [(key, held[key]) for key in sorted(held)]

    def _read(self, blocks: list[tuple[int, int]]) -> Iterator[tuple[str, str]]:
        assert self._file is not None
        fd = self._file.fileno()
        # One block read at a time; its lines handed out by ``chain`` (no Python per line).
        return chain.from_iterable(marshal.loads(os.pread(fd, n, at)) for at, n in blocks)
