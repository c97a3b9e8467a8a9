"""Getting one result out of a store: ``get_artifact`` (``reprolam get RUN NAME``).

One artifact is read and its digest checked -- no replay of the run. ``NAME`` is a
workflow output or external input of the run, or any step's output as ``STEP.NAME``
(``STEP`` an index or an action name: its last execution). The value is written in an
open format: frames as CSV or Parquet (with pyarrow), arrays as ``.npy``, PNG bytes as
``.png``, text as ``.txt`` (``.md`` if you name it so), data as JSON; files and
directories as themselves. ``native`` writes the bytes as stored (files: the file).
"""

from __future__ import annotations

import codecs
import datetime as dt
import decimal
import importlib.util
import json
import math
import os
import shutil
import sys
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path, PurePath
from typing import Any

from reprolam.codecs import Serializer, default_serializer
from reprolam.codecs._files import DirManifest, FileManifest
from reprolam.codecs._sparse import is_sparse
from reprolam.errors import ConfigError, IntegrityError, NotFoundError, ReprolamWarning
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import StepRecord, hash_holds

FORMATS = ("native", "json", "csv", "parquet", "npy", "npz", "png", "txt")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_EXTENSIONS = {
    "json": ".json",
    "csv": ".csv",
    "parquet": ".parquet",
    "npy": ".npy",
    "npz": ".npz",
    "png": ".png",
    "txt": ".txt",
}
_NEEDS = {  # what each format takes
    "csv": "a frame",
    "parquet": "a frame (with pyarrow installed)",
    "npy": "a numeric array",
    "npz": "a sparse matrix",
    "png": "PNG bytes",
    "txt": "text",
    "json": "a value",
}
_FORMAT_OF_SUFFIX = {suffix: fmt for fmt, suffix in _EXTENSIONS.items()}
_ANY_NAME = frozenset({"txt", "native"})  # text and raw bytes: any extension names them
_NATIVE_SUFFIXES = frozenset({".bin", ".rlc"})  # names for reprolam's own encodings
_NPZ_FORMATS = frozenset({"csr", "csc", "coo", "dia", "bsr"})  # what scipy's save_npz writes


@dataclass(frozen=True, slots=True)
class GotArtifact:
    """What ``get_artifact`` wrote: where, in which format, from which artifact."""

    run_id: str
    name: str
    step: int | None  # None: an external input
    digest: str
    codec: str
    format: str
    path: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def find_artifact(store: TraceStore, run_id: str, name: str) -> tuple[str, int | None, str | None]:
    """``(digest, step index, path)`` of ``NAME`` or ``STEP.NAME`` in run ``run_id``.

    ``path`` is set for an input recorded without a copy: only that path holds its bytes.
    """
    from reprolam.engine.inputs import recorded_inputs
    from reprolam.trace.stored_json import load_json

    run = store.get_run(run_id)
    steps = store.steps(run_id)
    # STEP.NAME, split at its last dot first; an output whose name holds a dot ('0.step.1',
    # as listed) at an earlier one
    dots = [i for i, c in enumerate(name) if c == "."]
    for at in reversed(dots):
        step_ref, output = name[:at], name[at + 1 :]
        chosen = [s for s in steps if str(s.index) == step_ref or s.action == step_ref]
        chosen = [s for s in chosen if output in s.outputs]
        if step_ref and chosen:
            return _unchanged(chosen[-1], run_id).outputs[output], chosen[-1].index, None
    if name in run.outputs:
        producers = [s for s in steps if s.outputs.get(name) == run.outputs[name]]
        if not producers:
            raise IntegrityError(
                f"run {run_id} names {run.outputs[name][:12]} as its output {name!r}, which no "
                f"step of its trace produced: its record was edited; `reprolam audit {run_id}` "
                "says what else is wrong"
            )
        return run.outputs[name], _unchanged(producers[-1], run_id).index, None
    for step in reversed(steps):
        if name in step.outputs:
            return _unchanged(step, run_id).outputs[name], step.index, None
    inputs = recorded_inputs(load_json(store, run.environment))
    for item in inputs:
        if item.name == name:
            return item.digest, None, None if item.copied else item.path
    known = sorted(
        {
            *run.outputs,
            *(i.name for i in inputs),
            *(f"{s.index}.{o}" for s in steps for o in s.outputs),
        }
    )
    raise NotFoundError(
        f"run {run_id} has no artifact {name!r}; it has: {', '.join(known[:20]) or 'none'}"
    )


def _default_format(codec: str, value: Any) -> str:
    if codec in ("file", "dir"):
        return "native"
    if codec == "frame":
        return "csv"
    if codec == "npy":
        return "npy"
    if is_sparse(value):
        return "npz"
    if codec == "bytes":
        return "png" if value.startswith(PNG_MAGIC) else "native"
    if type(value) is str and _encodes(value):
        return "txt"
    return "json" if codec in ("json", "tree") else "native"


_NO_JSON = frozenset({"model", "xarray", "pickle"})  # codecs whose values JSON cannot hold


def _formats_of(codec: str, value: Any) -> list[str]:
    """The formats ``value`` can be written in, in ``FORMATS`` order."""
    import numpy as np

    if isinstance(value, FileManifest):  # png and txt: checked on the file once written
        return ["native"]
    if isinstance(value, DirManifest):
        return ["native"]
    fits = {"native"}
    if codec not in _NO_JSON and not is_sparse(value):
        fits.add("json")
    if _is_series(value) or _is_frame(value):  # pandas's (a polars frame has columns too)
        fits.add("csv")
        if _numeric(value):
            fits.add("npy")
        if importlib.util.find_spec("pyarrow") is not None:
            fits.add("parquet")
    if is_sparse(value):
        fits |= {"npz", "npy"}
    # .npy holds no Python objects, and no mask: a masked array is JSON (masked as null)
    if isinstance(value, np.ndarray) and value.dtype.kind != "O" and not np.ma.isMA(value):
        fits.add("npy")
    raw = isinstance(value, bytes | bytearray)
    if raw and value.startswith(PNG_MAGIC):
        fits.add("png")
    if (isinstance(value, str) and _encodes(value)) or (raw and _utf8(value)):
        fits.add("txt")
    return [f for f in FORMATS if f in fits]


def _file_is(value: Any, path: Path, fmt: str, name: str) -> None:
    """Refuse (removing it) a file written as itself that is not ``fmt`` (a PNG, text)."""
    if not isinstance(value, FileManifest) or fmt == "native":
        return
    fits = ["native"]
    with path.open("rb") as stream:
        head = stream.read(len(PNG_MAGIC))
        decoder = codecs.getincrementaldecoder("utf-8")()
        chunk, text = head, True
        try:
            while chunk:
                decoder.decode(chunk)
                chunk = stream.read(1 << 20)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            text = False
    fits += ["png"] * (head == PNG_MAGIC) + ["txt"] * text
    if fmt not in fits:
        path.unlink()
        raise ConfigError(
            f"{name!r} is a file artifact ({value.name}), not {_NEEDS[fmt]}: "
            f"get it as {', '.join(fits)}"
        )


def _utf8(data: bytes | bytearray) -> bool:
    """Whether bytes are text: written as ``.txt`` they must not change (no replaced bytes)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _encodes(text: str) -> bool:
    """Whether text can be written as UTF-8: a lone surrogate (a file name that is not UTF-8,
    as Python decodes it) cannot, and JSON keeps it as its escape ``\\ud800``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _numeric(frame: Any) -> bool:
    """Whether a frame (or Series) is one array without Python objects (``.npy`` holds no
    objects), judged by its dtypes: no copy of a large frame just to list formats."""
    import numpy as np

    found = set(frame.dtypes) if hasattr(frame, "columns") else {frame.dtype}
    # nullable Int64/Float64/boolean stand for their NumPy dtype (a missing value is caught
    # when written); object, string and categorical columns have none
    dtypes = {d if isinstance(d, np.dtype) else getattr(d, "numpy_dtype", None) for d in found}
    if not all(isinstance(d, np.dtype) and d.kind != "O" for d in dtypes):
        return False
    return len(dtypes) == 1 or all(d.kind in "biuf" for d in dtypes if d is not None)


def finite_json(value: Any) -> Any:
    """``value`` for strict JSON (RFC 8259), which has no NaN or infinity: each non-finite
    float in it (nested in dicts, lists and tuples) as the string ``"NaN"``, ``"Infinity"``
    or ``"-Infinity"``, as protobuf's JSON mapping writes them."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(v) for v in value]
    return value


def jsonable(value: Any) -> Any:
    """A JSON view of a decoded value (sets sorted, dates ISO, arrays as lists, ...)."""
    import numpy as np

    if type(value) is int and value.bit_length() > 14_000:
        return hex(value)  # beyond Python's int -> decimal text limit
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, dict):
        found = {str(k): jsonable(v) for k, v in value.items()}
        if len(found) < len(value):  # {1: ..., "1": ...}: JSON keys are text
            same = [k for k in value if sum(str(o) == str(k) for o in value) > 1][:2]
            raise ConfigError(
                f"a dict whose keys {same[0]!r} and {same[1]!r} are the same text has no JSON "
                "form (one would be lost): get it as native"
            )
        return found
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((jsonable(v) for v in value), key=repr)
    if isinstance(value, np.ndarray | np.generic):
        return jsonable(_numpy_items(np, value))
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal | uuid.UUID | PurePath | complex):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return value.hex()
    if _is_series(value):  # its values as a one-column frame's records, not a summary
        value = value.to_frame()
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict) and hasattr(value, "columns"):  # a frame
        if not value.columns.is_unique:
            raise ConfigError(
                "a frame with duplicate column names has no JSON form (a record holds each "
                "name once): get it as csv or native"
            )
        try:
            records = value.reset_index()
        except ValueError:  # an index level named as a column ("cannot insert a, already ...")
            names = [  # as reset_index names the levels
                (("index" if value.index.nlevels == 1 else f"level_{i}") if n is None else n)
                for i, n in enumerate(value.index.names)
            ]
            raise ConfigError(
                f"a frame whose index names {names} clash with its column names has no JSON "
                "form (a record holds each name once): get it as csv or native"
            ) from None
        return jsonable(records.to_dict(orient="records"))
    # A model, a sparse matrix, ... inside other values: named and summarised (alone, such a
    # value is not offered as json: ``_formats_of``; get it as native).
    from reprolam.codecs import describe

    kind = type(value)
    return {"$type": f"{kind.__module__}.{kind.__qualname__}", "summary": describe(value)}


def _type_name(value: Any) -> str:
    """``list``, ``DataFrame``; a type of another library in full (a polars DataFrame is
    not pandas's)."""
    kind = type(value)
    if kind.__module__.partition(".")[0] in _SHORT_TYPE_NAMES:
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


_SHORT_TYPE_NAMES = frozenset({"builtins", "numpy", "pandas", "reprolam", "scipy", "xarray"})


def _is_series(value: Any) -> bool:
    pandas = sys.modules.get("pandas")  # not loaded: the value cannot be a Series
    return pandas is not None and isinstance(value, pandas.Series)


def _is_frame(value: Any) -> bool:
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(value, pandas.DataFrame)


_FINER_THAN_PYTHON = frozenset({"ns", "ps", "fs", "as"})  # datetime stops at microseconds


def _numpy_items(np: Any, value: Any) -> Any:
    """A NumPy array's (or scalar's) values as Python values ``jsonable`` knows. ``item()``
    gives an int for a datetime64 or timedelta64 finer than microseconds (nanoseconds
    since 1970, not a date: here an ISO date, every digit, and seconds as for a coarser
    unit) and the NumPy scalar itself for a long double (JSON numbers are doubles)."""
    kind = value.dtype.kind
    if kind in "Mm" and np.datetime_data(value.dtype)[0] in _FINER_THAN_PYTHON:
        if kind == "M":
            items = np.asarray(np.datetime_as_string(value), dtype=object)
        else:
            items = np.asarray(value / np.timedelta64(1, "s"), dtype=object)
        items[np.isnat(np.asarray(value))] = None  # as NaT is in the coarser units
        return items.tolist()
    if kind in "fc" and value.dtype.itemsize > (8 if kind == "f" else 16):
        raise ConfigError(
            f"a NumPy {value.dtype.name} has no JSON form (JSON numbers are 64-bit floats, so "
            "digits would be lost): get it as npy or native"
        )
    return value.tolist()


def _write(value: Any, codec: str, fmt: str, target: Path) -> None:
    import numpy as np

    if fmt in {"csv", "parquet"}:
        import pandas as pd

        if isinstance(value, pd.Series):
            value = value.to_frame()
        if not isinstance(value, pd.DataFrame):
            raise ConfigError(f"a {codec} artifact is not a frame: get it as json or native")
        if fmt == "csv":
            value.to_csv(target)
            return
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ConfigError("Parquet needs pyarrow: pip install 'reprolam[parquet]'") from None
        _distinct_in_parquet(value, codec)
        try:
            value.to_parquet(target)
        # pyarrow's ArrowTypeError/ArrowInvalid are these; ArrowNotImplementedError (a
        # big-endian column: "Byte-swapped arrays not supported") is a NotImplementedError
        except (TypeError, ValueError, NotImplementedError) as exc:
            target.unlink(missing_ok=True)
            reason = "; ".join(str(arg) for arg in exc.args) or type(exc).__name__
            typed = not isinstance(exc, NotImplementedError)  # a mixed column, or a dtype
            raise ConfigError(
                f"a {codec} artifact cannot be written as Parquet ({reason}): "
                f"{'Parquet needs one type per column; ' if typed else ''}get it as csv, json "
                "or native"
            ) from None
    elif fmt == "npy":
        if hasattr(value, "toarray"):
            value = value.toarray()
        if hasattr(value, "to_numpy"):
            value = value.to_numpy()
        if not isinstance(value, np.ndarray) or value.dtype.kind == "O":
            raise ConfigError(f"a {codec} artifact is not a numeric array: get it as json")
        with target.open("wb") as out:  # a file object: np.save adds no suffix to it
            np.save(out, value, allow_pickle=False)
    elif fmt == "npz":
        _write_npz(value, codec, target)
    elif fmt == "png":
        if not (isinstance(value, bytes | bytearray) and value.startswith(PNG_MAGIC)):
            raise ConfigError("the artifact is not PNG bytes: get it as native")
        target.write_bytes(value)
    elif fmt == "txt":
        if isinstance(value, bytes | bytearray):
            value = value.decode("utf-8")  # offered only for bytes that are UTF-8
        if not isinstance(value, str):
            raise ConfigError(f"a {codec} artifact is not text: get it as json")
        target.write_text(value, encoding="utf-8")
    elif fmt == "json":
        text = json.dumps(finite_json(jsonable(value)), indent=2, sort_keys=True)
        target.write_text(text + "\n")
    else:
        raise ConfigError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")


def _distinct_in_parquet(frame: Any, codec: str) -> None:
    """Parquet names columns by text: labels of mixed types (``0`` and ``"0"``) that read
    the same would be written as one name twice, a file pyarrow then refuses to read."""
    if frame.columns.nlevels > 1 or not frame.columns.is_unique:
        return  # equal labels: pandas refuses them itself
    seen: dict[str, Any] = {}
    for label in frame.columns:
        if str(label) in seen:
            raise ConfigError(
                f"a {codec} artifact cannot be written as Parquet: its column labels "
                f"{seen[str(label)]!r} and {label!r} are the same text there (the file could "
                "not be read back): get it as csv or native"
            )
        seen[str(label)] = label


def _write_npz(value: Any, codec: str, target: Path) -> None:
    if not is_sparse(value):
        raise ConfigError(f"a {codec} artifact is not a sparse matrix: get it as npy or json")
    from scipy import sparse

    if value.format not in _NPZ_FORMATS:  # lil and dok have no .npz form: their CSR has
        value = value.tocsr()
    with target.open("wb") as out:  # a file object: save_npz adds no suffix to it
        sparse.save_npz(out, value)


def _writable(target: Path) -> None:
    for item in [target, *target.rglob("*")] if target.is_dir() else [target]:
        item.chmod(item.stat().st_mode | 0o200)


def _unchanged(step: StepRecord, run_id: str) -> StepRecord:
    """The step an artifact is taken from, re-hashed: its output names and digests are what
    ran (the digest check of the bytes cannot tell an edited pointer to other bytes)."""
    if not hash_holds(step):
        raise IntegrityError(
            f"step {step.index} of run {run_id} was changed after it ran (its hash no longer "
            f"matches): `reprolam audit {run_id}` says what else is wrong"
        )
    return step


def get_artifact(
    store: TraceStore,
    run_ref: str,
    name: str,
    *,
    out: str | os.PathLike[str] | None = None,
    as_: str | None = None,
    serializer: Serializer | None = None,
) -> GotArtifact:
    """Write artifact ``name`` of run ``run_ref`` to ``out`` (default ``./NAME.EXT``)."""
    from reprolam import files

    if as_ is not None and as_ not in FORMATS:
        raise ConfigError(f"unknown format {as_!r}: use one of {', '.join(FORMATS)}")
    run_id = store.resolve_run_id(run_ref)
    key, step, uncopied = find_artifact(store, run_id, name)
    record, data = store.get_artifact(key)  # the one read, digest-checked
    if (as_ == "native" and record.codec not in ("file", "dir", "bytes")) or (
        as_ is None and record.codec == "pickle" and _native_asked(out)
    ):
        # the stored bytes need no decoding: a pickle or a model is written without the
        # trust (or the module defining its class) that loading it would take
        target = _native_target(name, out)
        with _writing(target):
            target.write_bytes(data)
        return GotArtifact(run_id, name, step, key, record.codec, "native", str(target), len(data))
    value = (serializer or default_serializer()).loads_typed(record.codec, data)
    manifest = isinstance(value, FileManifest | DirManifest)
    # no --as: the extension asked for (-o m.npy), else the value's own default
    implied = None if out is None or manifest else _FORMAT_OF_SUFFIX.get(Path(out).suffix.lower())
    fmt = as_ or implied or _default_format(record.codec, value)
    label = name.rpartition(".")[2] if "." in name and name not in ("",) else name
    folder = _folder(out)
    possible = _formats_of(record.codec, value)
    if fmt not in possible and not (isinstance(value, FileManifest) and fmt in ("png", "txt")):
        raise ConfigError(
            f"{name!r} is a {record.codec} artifact ({_type_name(value)}), not "
            f"{_NEEDS.get(fmt, fmt)}: get it as {', '.join(possible)}"
        )
    if manifest:
        target = Path(out) if out is not None and folder is None else Path(value.name)
        target = folder / target if folder is not None else target
        if target.exists():
            raise ConfigError(f"{target} exists: pass another {{out}} path or remove it")
        with _writing(target):
            if uncopied is None:
                files.write_manifest(store, value, target)
            else:
                _copy_uncopied(uncopied, target, value, key, f"input {name!r} of run {run_id}")
        _file_is(value, target, fmt, name)
        _writable(target)  # a copy for the user, not the store's read-only one
        size = value.size
    else:
        suffix = _EXTENSIONS.get(fmt, ".bin")
        target = Path(out) if out is not None else Path(label + suffix)
        target = folder / (label + suffix) if folder is not None else target
        with _writing(target):
            if fmt == "native":
                raw = value if isinstance(value, bytes) else data
                target.write_bytes(raw)
            else:
                _write(value, record.codec, fmt, target)
        size = target.stat().st_size
    _warn_if_archive_name(value, out if folder is None else None)
    suffix = Path(out).suffix if out is not None and folder is None and not manifest else ""
    # -o table.xlsx: a structured format under another's name (text and bytes take any);
    # -o cube.nc: reprolam's own encoding of a model or a DataArray, not NetCDF or a pickle
    own_encoding = fmt == "native" and record.codec != "bytes" and suffix not in _NATIVE_SUFFIXES
    if suffix and as_ is None and implied is None and (own_encoding or fmt not in _ANY_NAME):
        holds = f"reprolam's {record.codec} encoding (native)" if fmt == "native" else fmt
        warnings.warn(
            ReprolamWarning(
                f"{out}: {suffix} is not a format get writes, so it holds {holds}; choose one "
                f"with {{as_=FORMAT}} ({', '.join(possible)})"
            ),
            stacklevel=2,
        )
    return GotArtifact(run_id, name, step, key, record.codec, fmt, str(target), size)


_ARCHIVE_SUFFIXES = (".zip", ".tar", ".tgz", ".gz", ".bz2", ".xz", ".zst", ".7z")


def _warn_if_archive_name(value: Any, out: str | os.PathLike[str] | None) -> None:
    """A directory written under an archive's name (-o results.zip) is still a directory."""
    suffix = Path(out).suffix.lower() if out is not None else ""
    if isinstance(value, DirManifest) and suffix in _ARCHIVE_SUFFIXES:
        warnings.warn(
            ReprolamWarning(
                f"{out}: a directory artifact is written as a directory, not a {suffix} "
                f"archive; name it without {suffix}, or archive the directory yourself"
            ),
            stacklevel=3,
        )


def _native_asked(out: str | os.PathLike[str] | None) -> bool:
    """Whether ``out`` asks for no other format than native (a pickle's default: written
    as stored, so without the trust, or the workflow file defining its class, loading
    it would take)."""
    return out is None or _FORMAT_OF_SUFFIX.get(Path(out).suffix.lower(), "native") == "native"


def _native_target(name: str, out: str | os.PathLike[str] | None) -> Path:
    label = name.rpartition(".")[2]
    folder = _folder(out)
    if folder is not None:
        return folder / (label + ".bin")
    return Path(out) if out is not None else Path(label + ".bin")


def _copy_uncopied(
    source: str, target: Path, manifest: FileManifest | DirManifest, key: str, what: str
) -> None:
    """Copy an input recorded without a copy from its path, if it still holds what was
    recorded (checked on the copy made, so a change while copying is caught too)."""
    from dataclasses import replace

    from reprolam import files
    from reprolam.hashing import digest

    copied = False
    try:
        if Path(source).is_dir():
            shutil.copytree(source, target, symlinks=True)
        else:
            shutil.copy2(source, target)
        copied = True
        now = replace(files.hash_path(target), name=manifest.name)
        same = digest(default_serializer().dumps_typed(now)[1]) == key
    except (FileNotFoundError, ConfigError):  # gone, or holds what cannot be recorded
        same = False
    if not same:
        if copied and target.is_dir():
            shutil.rmtree(target)
        elif copied:
            target.unlink()
        raise NotFoundError(
            f"{what} was recorded without a copy and {source} no longer holds it (recorded "
            f"{key[:12]}): put the recorded file back at that path to get it"
        )


def _folder(out: str | os.PathLike[str] | None) -> Path | None:
    """The directory ``out`` names, if it names one: an existing directory (as ``cp x dir``),
    or a path ending in a separator (``-o results/``), created here: it was never meant as
    the file's own name."""
    if out is None:
        return None
    path = Path(out)
    if path.is_dir():
        return path
    if os.fspath(out).endswith((os.sep, "/")):
        with _writing(path):
            path.mkdir(parents=True)
        return path
    return None


@contextmanager
def _writing(target: Path) -> Iterator[None]:
    """An unwritable destination (missing directory, no permission, full disk) is bad input."""
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(
            f"cannot write {target}: {reason}: pass another {{out}} path (an existing, "
            "writable directory)"
        ) from None
