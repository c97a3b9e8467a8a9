"""What an artifact looks like at a glance: plain data the templates show (and escape).

Arrays: shape, dtype and summary statistics; frames: their first rows; JSON: pretty text;
models: type and params; PNG images: shown as images (served by digest with a fixed
content type); text and markdown: shown as text. Nothing here executes stored code: the
serializer is untrusted, so pickled values are described, never loaded.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from typing import Any

from reprolam.codecs import default_serializer, describe
from reprolam.codecs._bytes import MAGIC as BYTES_MAGIC
from reprolam.codecs._files import DirManifest, FileManifest
from reprolam.codecs._sparse import is_sparse
from reprolam.errors import ReprolamError
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import ArtifactRecord

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_DECODE = 64 * 1024 * 1024  # bytes: larger artifacts are described, not loaded
MAX_TEXT = 20_000  # characters of text or JSON shown
HEX_BYTES = 512  # bytes of binary content shown as a hex dump
FRAME_ROWS = 10
ARRAY_ITEMS = 12


@dataclass(frozen=True, slots=True)
class Preview:
    kind: str  # image | array | frame | json | text | binary (hex dump) | model | opaque | error
    summary: str
    text: str = ""  # pretty JSON, text, or a message
    stats: dict[str, Any] = field(default_factory=dict)
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    truncated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "summary": self.summary,
            "text": self.text,
            "stats": self.stats,
            "columns": self.columns,
            "rows": self.rows,
            "truncated": self.truncated,
        }


def is_png(data: bytes) -> bool:
    return data.startswith(PNG_SIGNATURE)


def preview(store: TraceStore, record: ArtifactRecord) -> Preview:
    # (a size that is not a number, edited into the artifacts row, fails the read below)
    if type(record.size) is int and record.size > MAX_DECODE:
        return Preview("opaque", f"{record.codec}, {record.size} bytes: too large to preview")
    try:
        _, data = store.get_artifact(record.digest)
    except ReprolamError as exc:
        return Preview("error", "cannot read the artifact", text=str(exc))
    if is_png(data):
        return Preview("image", f"PNG image, {len(data)} bytes")
    if record.codec in ("text", "txt", "markdown", "md"):
        text = data.decode("utf-8", errors="replace")
        return _text(record.codec, text)
    try:
        value = default_serializer().loads_typed(record.codec, data)
    except ReprolamError as exc:
        return Preview("opaque", f"{record.codec}, {record.size} bytes: not loaded", text=str(exc))
    except Exception as exc:
        return Preview("error", "cannot decode the artifact", text=f"{type(exc).__name__}: {exc}")
    if isinstance(value, FileManifest | DirManifest):
        try:
            return _file(store, value, describe(value))
        except ReprolamError as exc:
            return Preview("error", "cannot read the file's content", text=str(exc))
    return value_preview(value)


def png_of(store: TraceStore, digest: str) -> bytes | None:
    """The PNG image artifact ``digest`` holds: ``bytes`` an action returned (stored after
    the codec's magic), a ``.png`` file it wrote, or a raw PNG; ``None`` if it holds none."""
    record, data = store.get_artifact(digest)
    if is_png(data):
        return data
    if record.codec == "bytes" and is_png(data[len(BYTES_MAGIC) :]):
        return data[len(BYTES_MAGIC) :]
    if record.codec == "file":
        manifest = default_serializer().loads_typed("file", data)
        if manifest.size <= MAX_DECODE:
            return png_of(store, manifest.content)
    return None


def _file(store: TraceStore, manifest: Any, summary: str) -> Preview:
    """A file an action wrote: a PNG shown as an image, text as text, anything else named."""
    if isinstance(manifest, DirManifest):
        listing = "\n".join(
            f"{e.path}/" if e.content is None else f"{e.path}  ({e.size} bytes)"
            for e in manifest.entries[:200]
        )
        return Preview("text", summary, text=listing, truncated=len(manifest.entries) > 200)
    if manifest.size > MAX_DECODE:
        return Preview("opaque", f"{summary}: too large to preview")
    _, data = store.get_artifact(manifest.content)
    content = data[len(BYTES_MAGIC) :]
    if is_png(content):
        return Preview("image", f"{summary}: PNG image")
    if b"\0" not in content[:8192]:
        try:
            text = content[: MAX_TEXT * 4].decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None:
            return Preview(
                "text", summary, text=text[:MAX_TEXT], truncated=len(content) > len(text)
            )
    return replace(_bytes(content), summary=f"{summary}: binary content")


def value_preview(value: Any) -> Preview:
    summary = describe(value)
    if isinstance(value, bytes) and is_png(value):
        return Preview("image", f"PNG image, {len(value)} bytes")
    if isinstance(value, str):
        return _text("str", value)
    if isinstance(value, bytes):
        return _bytes(value)
    np_array = _numpy_array(value)
    if np_array is not None:
        return _array(np_array, summary)
    if is_sparse(value):
        return _sparse(value)
    frame = _frame(value, summary)
    if frame is not None:
        return frame
    if hasattr(value, "get_params") and type(value).__module__.startswith("sklearn"):
        params = {k: repr(v) for k, v in value.get_params(deep=False).items()}
        return Preview(
            "model", f"{type(value).__module__}.{type(value).__qualname__}", stats=params
        )
    try:
        text = json.dumps(value, indent=2, sort_keys=True, allow_nan=True, default=describe)
    except (TypeError, ValueError):
        return Preview("text", summary, text=repr(value)[:MAX_TEXT])
    return Preview("json", summary, text=text[:MAX_TEXT], truncated=len(text) > MAX_TEXT)


def _bytes(data: bytes) -> Preview:
    """Bytes an action returned (a PDF, a pickle of its own): text if they are UTF-8 text,
    else the first ``HEX_BYTES`` as a hex dump (offset, hex, printable characters)."""
    if b"\0" not in data[:8192]:
        try:
            return _text(f"UTF-8 text in {len(data)} bytes", data.decode("utf-8"))
        except UnicodeDecodeError:
            pass
    lines = []
    for offset in range(0, min(len(data), HEX_BYTES), 16):
        chunk = data[offset : offset + 16]
        printable = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:08x}  {chunk.hex(' '):<47}  {printable}")
    return Preview(
        "binary",
        f"bytes, {len(data)} bytes",
        text="\n".join(lines),
        truncated=len(data) > HEX_BYTES,
    )


def _text(kind: str, text: str) -> Preview:
    return Preview(
        "text",
        f"{kind}, {len(text)} characters",
        text=text[:MAX_TEXT],
        truncated=len(text) > MAX_TEXT,
    )


def _numpy_array(value: Any) -> Any:
    import sys

    np = sys.modules.get("numpy")
    return value if np is not None and isinstance(value, np.ndarray) else None


def _array(array: Any, summary: str) -> Preview:
    import numpy as np

    stats: dict[str, Any] = {"shape": list(array.shape), "dtype": str(array.dtype)}
    if array.size and np.issubdtype(array.dtype, np.number) and not np.iscomplexobj(array):
        flat = array.astype(np.float64, copy=False).ravel()
        finite = flat[np.isfinite(flat)]
        stats["non-finite"] = int(flat.size - finite.size)
        if finite.size:
            stats.update(
                min=_num(finite.min()),
                max=_num(finite.max()),
                mean=_num(finite.mean()),
                std=_num(finite.std()),
            )
    first = [repr(v) for v in array.ravel()[:ARRAY_ITEMS].tolist()]
    text = ", ".join(first) + (", ..." if array.size > ARRAY_ITEMS else "")
    return Preview("array", summary, text=text, stats=stats)


def _sparse(matrix: Any) -> Preview:
    """A scipy.sparse matrix: its shape, stored values and their statistics (not densified)."""
    stored = matrix.tocoo()
    cells = math.prod(matrix.shape) or 1
    preview = _array(stored.data, "")
    stats = {
        "format": matrix.format,
        "shape": list(matrix.shape),
        "dtype": str(matrix.dtype),
        "stored": int(stored.nnz),
        "density": _num(stored.nnz / cells),
    }
    stats.update({f"{k} (stored)": v for k, v in preview.stats.items() if k not in stats})
    kind = type(matrix).__name__
    return Preview("array", f"{kind} {matrix.shape[0]}x{matrix.shape[1]}", stats=stats)


def _num(value: Any) -> float:
    """A statistic, six decimals kept; below 1, six significant digits, so a density of 1e-07
    or the mean of tiny gradients is not shown as 0.0."""
    number = float(value)
    if not math.isfinite(number):
        return number
    return float(f"{number:.6g}") if abs(number) < 1 else round(number, 6)


def _frame(value: Any, summary: str) -> Preview | None:
    import sys

    pd = sys.modules.get("pandas")
    if pd is None:
        return None
    if isinstance(value, pd.Series):
        value = value.to_frame()
    if not isinstance(value, pd.DataFrame):
        return None
    head = value.head(FRAME_ROWS)
    columns = [str(c) for c in head.columns]
    rows = [
        [str(i), *(_cell(v) for v in row)]
        for i, row in zip(head.index, head.itertuples(index=False), strict=True)
    ]
    stats = {"rows": int(value.shape[0]), "columns": int(value.shape[1])}
    return Preview(
        "frame",
        summary,
        stats=stats,
        columns=["", *columns],
        rows=rows,
        truncated=value.shape[0] > FRAME_ROWS,
    )


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
