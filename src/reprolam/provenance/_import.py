"""``import_crate``: bring a run exported as an RO-Crate back into any store.

The crate's ``reprolam/trace.json`` (``_crate_files``) lists the run, its fork ancestors
(the steps a fork inherits live in its parent) and, for a reproduction, the original; each
run's own steps; and every artifact they reference with the crate file holding its
canonical bytes. Nothing is taken on trust: every artifact file is re-hashed (a mismatch
names the file), every step's hash is recomputed and the chain followed, and only then is
anything written - through ``copy_store``, which hashes each artifact again on the way and
refuses a destination holding one of these runs with different content. Importing the
same crate twice is a no-op.
"""

from __future__ import annotations

import json
import lzma
import os
import re
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from reprolam.errors import ConfigError, IntegrityError, ReprolamError
from reprolam.hashing import digest
from reprolam.provenance._crate_files import TRACE_FORMAT, TRACE_PATH
from reprolam.provenance._crate_views import check_views
from reprolam.provenance._model import REDACTED
from reprolam.provenance._verified import require_verified
from reprolam.trace.contract import TraceStore
from reprolam.trace.copy import CopyReport, copy_store
from reprolam.trace.field_kinds import RUN_SCALARS, STEP_SCALARS, TEXT, Check
from reprolam.trace.memory import MemoryStore
from reprolam.trace.records import (
    ArtifactRecord,
    ErrorInfo,
    RunRecord,
    RunStatus,
    StepKind,
    StepRecord,
    StepStatus,
    step_hash,
)

# What an import may read from a crate, in all (a zip of a few MB can inflate to many GB:
# every file is read within what is left, so a zip bomb stops there), and each JSON record
# file at most a sixteenth of it (parsing JSON takes many times its size in memory).
MAX_BYTES_ENV_VAR = "REPROLAM_IMPORT_MAX_BYTES"
DEFAULT_MAX_BYTES = 4 << 30

# The ids reprolam writes (uuid7) and then some; a crate's id also names a lease file and is
# written into links and RO-Crate @ids, so a path, a space, ?, # or < is not one.
# What reading a zip member raises when its bytes are not a readable stream: a bad CRC,
# corrupt deflate, bzip2 or lzma data, a truncated member, an encrypted one, a compression
# method Python does not know.
UNREADABLE_MEMBER = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
    RuntimeError,
    NotImplementedError,
)

RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,199}")


class CrateError(ReprolamError):
    """A crate that cannot be imported: not a reprolam crate, unreadable, or malformed."""


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did: the crate's run and the store's copy report."""

    crate: str
    run: str  # the run the crate was exported for
    runs: tuple[str, ...]  # every run the crate carried, parents first
    copy: CopyReport

    def to_dict(self) -> dict[str, Any]:
        return {"crate": self.crate, "run": self.run, "runs": list(self.runs)} | {
            "copy": self.copy.to_dict()
        }


@dataclass(frozen=True, slots=True)
class VerifiedCrate:
    """A crate read and verified, its records staged in memory, ready to be copied."""

    path: str
    run: str  # the run the crate was exported for
    runs: tuple[str, ...]
    staged: MemoryStore


def verify_crate(crate: str | os.PathLike[str]) -> VerifiedCrate:
    """Read the crate at ``crate`` (a directory or a .zip) and verify every record and byte,
    writing nothing: ``IntegrityError`` naming the file that does not verify, ``CrateError``
    for something that is not an importable crate. A caller that would create a store to
    import into verifies first, so a refused crate leaves no empty store behind."""
    from reprolam.provenance._export import require_libraries

    if not os.fspath(crate):  # Path("") is ".", the working directory: never meant
        raise ConfigError("no crate given (an empty path): give a crate directory or .zip file")
    require_libraries("rocrate", doing="import of a crate")  # its views are checked with it
    path = Path(crate)
    with _reader(path) as opened:
        reader = _Limited(opened, path, _max_bytes())
        trace = _trace(reader, path)
        runs, steps = _records(trace, path)
        _verify_steps(steps, path)
        artifacts = _verified_artifacts(reader, path, trace["artifacts"])
        staged = _staged(runs, steps, artifacts, path)
        check_views(reader.read, path, staged, str(trace["run"]))
    return VerifiedCrate(str(path), str(trace["run"]), tuple(r.id for r in runs), staged)


def import_crate(store: TraceStore, crate: str | os.PathLike[str] | VerifiedCrate) -> ImportReport:
    """Verify the crate (unless ``verify_crate`` did) and copy its runs into ``store``;
    nothing is written unless all of it verifies."""
    verified = crate if isinstance(crate, VerifiedCrate) else verify_crate(crate)
    report = copy_store(verified.staged, store)
    return ImportReport(verified.path, verified.run, verified.runs, report)


def _staged(
    runs: list[RunRecord],
    steps: dict[str, list[StepRecord]],
    artifacts: dict[str, tuple[ArtifactRecord, bytes]],
    path: Path,
) -> MemoryStore:
    """The crate's records in a store of their own, verified as replay verifies them."""
    staged = MemoryStore()
    staged.location = str(path)  # what a copy report and a missing record name as the source
    for run in runs:
        staged.create_run(run)
    produced = {d for own in steps.values() for s in own for d in s.outputs.values()}
    # Environments, code and captured output first; step outputs with the steps that made
    # them (parents first), so each artifact's producer is the step that first made it.
    staged.record(artifacts=[a for d, a in artifacts.items() if d not in produced])
    for run in runs:
        own = steps.get(run.id, [])
        outputs = dict.fromkeys(d for s in own for d in s.outputs.values())
        fresh = [artifacts[d] for d in outputs if d in artifacts and not staged.has_artifact(d)]
        staged.record(steps=own, artifacts=fresh)
    # Every run as replay verifies it: the run records too, not only their steps (an edited
    # status, verdict, output or seed, a removed seal, an artifact's codec, a dropped step).
    records = [staged.get_run(run.id) for run in runs]
    where = f"{TRACE_PATH} in crate {str(path)!r}: "
    require_verified(staged, records, where=where, then=_why_altered(records))
    running = [run.id for run in records if run.status is RunStatus.RUNNING]
    if running:
        raise ConfigError(
            f"{where}run {running[0]} was exported while it was running: its record is not "
            "complete; nothing was imported: export it again once it has finished"
        )
    return staged


def _why_altered(runs: list[RunRecord]) -> str:
    """What a crate whose records do not verify went through: altered, or (a planner config
    holding a secret-looking value, against the planner contract) redacted by the export,
    which changes the header-hashed record."""
    redacted = [run.id for run in runs if REDACTED in json.dumps(run.planner)]
    if not redacted:
        return "the crate was altered or damaged; nothing was imported"
    return (
        f"the export redacted a secret-looking value in the planner config of run "
        f"{redacted[0]} ('{REDACTED}'), so its record no longer matches the hash taken when it "
        "was recorded; nothing was imported: copy its store with `reprolam store copy` instead"
    )


# -- reading the crate ----------------------------------------------------------------------------


class _Reader(Protocol):
    def read(self, name: str, limit: int | None = None) -> bytes:
        """The file's bytes; with ``limit``, at most ``limit + 1`` of them (enough to tell
        that a file is bigger than declared without reading, or inflating, all of it)."""
        ...


class _DirReader:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def read(self, name: str, limit: int | None = None) -> bytes:
        target = (self.root / _relative(name)).resolve()
        if not target.is_relative_to(self.root):  # a symlink pointing out of the crate
            raise CrateError(f"crate file {name!r} points outside the crate {str(self.root)!r}")
        if target.exists() and not target.is_file():  # a FIFO would block, a device never end
            raise CrateError(f"crate file {name!r} is not a regular file")
        with target.open("rb") as f:
            return f.read(-1 if limit is None else limit + 1)


class _ZipReader:
    def __init__(self, archive: zipfile.ZipFile, path: Path) -> None:
        self.archive = archive
        self.path = path
        self.root = _zipped_root(archive)
        names = archive.namelist()
        if len(names) != len(set(names)):  # this reader sees the last, others the first
            twice = next(n for n in names if names.count(n) > 1)
            raise CrateError(
                f"crate {str(path)!r} holds {twice!r} twice: which of the two a reader takes "
                "depends on the reader, so the one checked here might not be the one others "
                "read; nothing was imported: export the run again"
            )

    def read(self, name: str, limit: int | None = None) -> bytes:
        member = self.root + str(_relative(name))
        try:
            with self.archive.open(member) as f:
                return f.read(-1 if limit is None else limit + 1)
        except KeyError:
            raise  # not in the zip: the caller says which file is missing
        except UNREADABLE_MEMBER as exc:  # corrupt, encrypted, an unknown compression
            raise CrateError(
                f"crate {str(self.path)!r}: its member {member!r} cannot be read "
                f"({type(exc).__name__}: {exc}): the zip was altered or damaged; "
                "nothing was imported: export the run again"
            ) from exc


class _Limited:
    """A crate's files read within the import's limit (``MAX_BYTES_ENV_VAR``): each read is
    cut at what is left, so a file that inflates further is never held whole. A file read
    without a known size (a JSON record file) may hold a sixteenth of the limit: parsing it
    takes many times its size in memory. A file read again (an artifact's bytes, checked
    against its digest and then against the metadata) counts once."""

    def __init__(self, reader: _Reader, path: Path, total: int) -> None:
        self.reader = reader
        self.path = path
        self.total = total
        self.left = total
        self.counted: dict[str, int] = {}  # name -> bytes read of it, counted in the total

    def read(self, name: str, limit: int | None = None) -> bytes:
        own = self.total // 16 if limit is None else limit
        left = self.left + self.counted.get(name, 0)
        cap = min(own, left)
        data = self.reader.read(name, cap)
        if len(data) > cap and cap < own:  # cut by the import's limit, not the file's own
            raise self._over(name, "the crate holds more than that in all")
        if len(data) > cap and limit is None:
            raise self._over(name, f"a record file may hold a sixteenth of it ({own:,} bytes)")
        self.left = max(0, left - len(data))
        self.counted[name] = len(data)
        return data

    def _over(self, name: str, what: str) -> CrateError:
        return CrateError(
            f"crate {str(self.path)!r} is over the import limit of {self.total:,} bytes: {what} "
            f"(reading {name}; a zip that inflates this much may be a zip bomb); nothing was "
            f"imported: if you trust the crate, set {MAX_BYTES_ENV_VAR} to a larger number of "
            "bytes"
        )


def _max_bytes() -> int:
    text = os.environ.get(MAX_BYTES_ENV_VAR, "").strip().replace("_", "")
    if not text:
        return DEFAULT_MAX_BYTES
    if not text.isdigit() or int(text) <= 0:
        raise ConfigError(
            f"{MAX_BYTES_ENV_VAR}={os.environ[MAX_BYTES_ENV_VAR]!r} is not a number of bytes: "
            f"set it to a whole number above 0 (default {DEFAULT_MAX_BYTES})"
        )
    return int(text)


def _zipped_root(archive: zipfile.ZipFile) -> str:
    """Where the crate starts in the zip: at its top, as ``export`` writes it, or in its one
    top-level directory (``zip -r crate.zip crate/`` of an exported directory)."""
    names = archive.namelist()
    if TRACE_PATH in names:
        return ""
    tops = {name.partition("/")[0] for name in names}
    if len(tops) == 1 and all("/" in name for name in names):
        root = f"{tops.pop()}/"
        if root + TRACE_PATH in names:
            return root
    return ""


def _relative(name: str) -> PurePosixPath:
    rel = PurePosixPath(name)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise CrateError(f"crate file name {name!r} is not a path inside the crate")
    return rel


@contextmanager
def _reader(path: Path) -> Iterator[_Reader]:
    if path.is_dir():
        yield _DirReader(path)
        return
    if not path.exists():
        raise ConfigError(f"no crate at {str(path)!r}: give a crate directory or .zip file")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise CrateError(
            f"{str(path)!r} is neither a crate directory nor a zip file ({exc}): give what "
            "an export of a run with {format=rocrate} wrote"
        ) from exc
    with archive:
        yield _ZipReader(archive, path)


def _trace(reader: _Limited, path: Path) -> dict[str, Any]:
    try:
        text = reader.read(TRACE_PATH)
    except (KeyError, FileNotFoundError, IsADirectoryError) as exc:
        raise CrateError(
            f"{str(path)!r} is not an importable reprolam crate: it has no {TRACE_PATH} "
            "(crates exported by reprolam before import existed lack it): export the run "
            "again with {format=rocrate}"
        ) from exc
    try:
        trace = json.loads(text)
        if trace.get("format") != TRACE_FORMAT:
            raise ValueError(f"format {trace.get('format')!r}, expected {TRACE_FORMAT!r}")
        for key, kind in (("runs", list), ("steps", dict), ("artifacts", dict), ("run", str)):
            if not isinstance(trace.get(key), kind):
                raise ValueError(f"{key!r} is missing or not a {kind.__name__}")
    except (ValueError, AttributeError) as exc:
        raise IntegrityError(
            f"{TRACE_PATH} in crate {str(path)!r} is damaged: {exc}: nothing was imported"
        ) from exc
    return dict(trace)


def _records(
    trace: dict[str, Any], path: Path
) -> tuple[list[RunRecord], dict[str, list[StepRecord]]]:
    """The run and step records of ``trace``; anything that is not one is a damaged crate."""
    try:
        runs = [_run(r) for r in trace["runs"]]
        steps = {rid: [_step(s) for s in own] for rid, own in trace["steps"].items()}
        ids = {run.id for run in runs}
        if len(ids) != len(runs):
            twice = next(r.id for r in runs if sum(o.id == r.id for o in runs) > 1)
            raise ValueError(f"it lists run {twice} twice")
        for run_id in ids:
            if not RUN_ID.fullmatch(run_id):
                raise ValueError(
                    f"{run_id!r} is not a run id (letters, digits, '-', '_', '.' and ':', as "
                    "reprolam writes them: a name, not a path, a link or markup)"
                )
        if trace["run"] not in ids:
            raise ValueError(f"the run it was exported for, {trace['run']}, is not among its runs")
        for run in runs:
            for other, what in ((run.parent_id, "a fork of"), (run.verifies, "a reproduction of")):
                if other is not None and other not in ids:
                    raise ValueError(f"run {run.id} is {what} run {other}, which it does not carry")
        for rid, own in steps.items():
            if rid not in ids:
                raise ValueError(f"it lists steps of run {rid}, which it does not carry")
            for step in own:
                if step.run_id != rid:
                    raise ValueError(f"step {step.index} of run {rid} names run {step.run_id}")
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise IntegrityError(
            f"{TRACE_PATH} in crate {str(path)!r} holds records that are not reprolam's "
            f"({type(exc).__name__}: {exc}): nothing was imported"
        ) from exc
    return runs, steps


def _run(data: dict[str, Any]) -> RunRecord:
    run = RunRecord(**{**data, "status": RunStatus(data["status"])})
    _check_fields(f"run {run.id}", run, _RUN_FIELDS)
    return run


def _step(data: dict[str, Any]) -> StepRecord:
    error = data.get("error")
    step = StepRecord(
        **{
            **data,
            "kind": StepKind(data["kind"]),
            "status": StepStatus(data["status"]),
            "error": None if error is None else ErrorInfo(**error),
        }
    )
    where = f"step {step.index} of run {step.run_id}"
    _check_fields(where, step, _STEP_FIELDS)
    if step.error is not None:
        _check_fields(where + " error", step.error, _ERROR_FIELDS)
    return step


# -- the kind of value each field holds -----------------------------------------------------------
# A crate's JSON can hold anything: a timestamp as text or 1e300, an index as "0", outputs as a
# list. Each field is checked here, so such a crate is refused in one line, not a traceback.

_OBJECT: Check = (lambda v: type(v) is dict, "a JSON object")
_NAMES: Check = (
    lambda v: type(v) is dict and all(type(d) is str for d in v.values()),
    "an object of names to digests",
)
_RUN_FIELDS: dict[str, Check] = {
    **RUN_SCALARS,
    **dict.fromkeys(("planner", "policy", "overrides"), _OBJECT),
    "outputs": _NAMES,
}
_STEP_FIELDS: dict[str, Check] = {
    **STEP_SCALARS,
    **dict.fromkeys(("params", "proposal"), _OBJECT),
    **dict.fromkeys(("inputs", "outputs"), _NAMES),
}
_ERROR_FIELDS: dict[str, Check] = dict.fromkeys(("type", "message", "traceback"), TEXT)


def _check_fields(where: str, record: Any, checks: dict[str, Check]) -> None:
    for name, (test, words) in checks.items():
        value = getattr(record, name)
        if not test(value):
            raise ValueError(f"{where}: {name} is {repr(value)[:60]}, not {words}")


def _verify_steps(steps: dict[str, list[StepRecord]], path: Path) -> None:
    """Every finished step's hash recomputed, and each chained to the step before it."""
    for run_id, own in steps.items():
        for before, step in zip([None, *own], own, strict=False):
            if step.hash is not None and step_hash(step) != step.hash:
                raise IntegrityError(
                    f"{TRACE_PATH} in crate {str(path)!r}: step {step.index} of run {run_id} "
                    "does not match its recorded hash (edited after it was recorded): "
                    "nothing was imported"
                )
            if before is not None and before.hash and step.prev_hash != before.hash:
                raise IntegrityError(
                    f"{TRACE_PATH} in crate {str(path)!r}: step {step.index} of run {run_id} "
                    f"is not chained to step {before.index}: nothing was imported"
                )


def _verified_artifacts(
    reader: _Reader, path: Path, entries: dict[str, Any]
) -> dict[str, tuple[ArtifactRecord, bytes]]:
    found: dict[str, tuple[ArtifactRecord, bytes]] = {}
    for key, entry in entries.items():
        name = entry.get("path") if isinstance(entry, dict) else None
        if not name:
            raise CrateError(
                f"crate {str(path)!r} does not carry artifact {key} (exported without its "
                "bytes, e.g. over a size limit): export the run again without a limit"
            )
        size = entry.get("size")
        if type(size) is not int or size < 0:
            raise IntegrityError(
                f"{TRACE_PATH} in crate {str(path)!r} records no size for artifact {key} "
                f"({size!r}): nothing was imported"
            )
        try:
            data = reader.read(name, limit=size)  # a bigger file is not read (or inflated) whole
        except (KeyError, OSError) as exc:
            raise IntegrityError(
                f"crate {str(path)!r} is missing {name} (artifact {key}): nothing was imported"
            ) from exc
        if len(data) > size:
            raise IntegrityError(
                f"{name} in crate {str(path)!r} does not verify: it holds more than the {size} "
                f"bytes the trace records for artifact {key}: the crate was altered or damaged; "
                "nothing was imported"
            )
        actual = digest(data)
        if actual != key or size != len(data):
            raise IntegrityError(
                f"{name} in crate {str(path)!r} does not verify: its {len(data)} bytes hash to "
                f"{actual}, the trace records {key} ({entry.get('size')} bytes): the crate was "
                "altered or damaged; nothing was imported"
            )
        found[key] = (ArtifactRecord(key, str(entry.get("codec")), len(data)), data)
    return found
