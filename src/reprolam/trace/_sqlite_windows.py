"""SQLite's ``read_artifacts``: a run's artifacts read as a range of their storage order.

Since migration 0007, ``artifacts`` is a rowid table in the order artifacts were stored
(``seq``), and a lookup by digest probes three key tables per digest (``_sqlite_keys``):
about 3.8 µs a digest when a page of a trace's artifacts is read that way. But a run
stores its new artifacts one after the other, and a trace refers to them in that same
order, so a page of digests is mostly one short range of ``seq``: two digests are looked
up by key (the page's first and last), the range between them is read in one scan (about
1.1 µs a digest in all), and each row found there is kept only if it is one of the digests
asked for and its inline bytes hash to it. Whatever the window does not settle (an
artifact stored earlier or by another run, a blob file, damaged bytes, a wrong size, a
missing artifact) is read by key exactly as before (``SqlArtifactReads.read_artifacts``),
so it is reported in the same words. (The one difference: an intact artifact row whose
key-table entry alone was deleted is still read, from the row itself.)

The window is bounded: at most ``SPAN`` rows scanned per digest asked for, so a page whose
references are scattered costs one small scan more than before, never a large one, and a
window holds at most ``SPAN * BATCH`` inline artifacts of at most 32 KiB (8 MiB).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from blake3 import blake3

from reprolam.trace._sqlite_keys import artifacts_matching
from reprolam.trace.contract import ArtifactRead

BATCH = 128  # digests per window (as ``_sql_reads._READ_BATCH``)
SPAN = 2  # rows scanned per digest asked for, at most

_ENDS = f"SELECT artifacts.seq FROM {artifacts_matching(2)}"
_RANGE = "SELECT digest, codec, size, data FROM artifacts WHERE seq BETWEEN ? AND ?"

Query = Callable[[str, tuple[Any, ...]], list[Any]]
KeyedReads = Callable[[Sequence[str]], Iterator[ArtifactRead]]


def read_artifacts(
    query: Query, keyed: KeyedReads, digests: Sequence[str]
) -> Iterator[ArtifactRead]:
    """``TraceStore.read_artifacts`` from ``query`` (the store's ``_all``) and ``keyed``
    (the lookup by key, for what a window does not settle)."""
    for start in range(0, len(digests), BATCH):
        chunk = digests[start : start + BATCH]
        found = _window(query, chunk)
        if not found:
            yield from keyed(chunk)
            continue
        rest = [key for key in chunk if key not in found]
        others = {read.digest: read for read in keyed(rest)} if rest else {}
        for key in chunk:
            read = found.get(key)
            yield others[key] if read is None else read


def _window(query: Query, chunk: Sequence[str]) -> dict[str, ArtifactRead]:
    """The intact inline artifacts of ``chunk`` stored between its first and last digest."""
    if len(chunk) < 2:
        return {}
    seqs = [row[0] for row in query(_ENDS, (chunk[0], chunk[-1]))]
    if not seqs:
        return {}
    high = max(seqs)
    low = max(min(seqs), high - SPAN * len(chunk) + 1)
    wanted = set(chunk)
    new = tuple.__new__  # without NamedTuple's Python-level __new__
    found: dict[str, ArtifactRead] = {}
    hasher = blake3()  # one for the window (inline bytes are small: no threads)
    for key, codec, size, data in query(_RANGE, (low, high)):
        if key in wanted and type(data) is bytes and len(data) == size:
            hasher.update(data)
            if hasher.digest().hex() == key:
                found[key] = new(ArtifactRead, (key, codec, size, data, None))
            hasher.reset()
    return found
