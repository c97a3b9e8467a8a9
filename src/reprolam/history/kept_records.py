"""The records a run keeps beside its trace, checked by ``audit``: what each step printed
(captured output), the contents of the files its steps wrote, and the code it ran (the code
manifest its environment snapshot names, and every source text the manifest lists).

``verify_trace`` checks what the trace refers to (step inputs and outputs, run outputs, the
environment snapshot); these are referred to one level further down, by digest, so an edit
to their bytes went unnoticed: ``show`` printed edited output, ``diff`` compared edited code,
``get`` wrote out an edited file. ``replay`` checks the file contents too, a page of steps at
a time (``FileContents.check``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from contextlib import suppress
from typing import Any, Protocol

from reprolam.codecs._files import (
    MANIFEST_CODECS,
    DirCodec,
    DirManifest,
    FileCodec,
    FileManifest,
)
from reprolam.errors import CodecError, ReprolamError
from reprolam.history.observed import observed_of
from reprolam.history.verify import Problem
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import RunRecord, StepRecord
from reprolam.trace.stored_json import load_json

# A file's content: the output that holds it, its path in a directory (None: a file output),
# the step and its action; said as text only when the content fails (``_said``).
Content = tuple[str, str | None, int, str]
Roles = dict[str, tuple[str | Content, int | None]]  # digest -> (what it is, its step)
RECENT = 512  # contents checked lately, not read again by ``FileContents.check``


class _Step(Protocol):  # a ``StepRecord`` or a streamed ``TraceStep``
    @property
    def index(self) -> int: ...
    @property
    def action(self) -> str: ...
    @property
    def outputs(self) -> dict[str, str]: ...


class FileContents:
    """The contents of the file and directory artifacts steps wrote.

    ``note`` (an ``on_artifact`` of ``verify_trace``) keeps what each manifest read names;
    the contents of the manifests a step output are then checked with the other kept records
    (``kept_record_problems``), or, as a trace streams, a page of steps at a time (``check``):
    the manifests noted since are forgotten, contents checked lately are not read again, a
    failing one is reported once.
    """

    def __init__(self) -> None:
        # manifest digest -> content digest -> its path in the directory (None: a file)
        self.manifests: dict[str, dict[str, str | None]] = {}
        self._checked: OrderedDict[str, None] = OrderedDict()  # verified lately (LRU)
        self._failed: set[str] = set()

    def note(self, key: str, data: bytes, codec: str) -> None:
        if codec in MANIFEST_CODECS:
            manifest_codec = FileCodec if codec == FileCodec.tag else DirCodec
            with suppress(CodecError):  # a malformed manifest names no contents to check
                self.note_manifest(key, manifest_codec().decode(data))

    def note_manifest(self, key: str, manifest: object) -> None:
        """``note`` of a manifest already decoded (anything else names no contents)."""
        named: dict[str, str | None] = {}
        if isinstance(manifest, FileManifest):
            named[manifest.content] = None
        elif isinstance(manifest, DirManifest):
            for entry in manifest.entries:
                if entry.content is not None:
                    named.setdefault(entry.content, entry.path)
        self.manifests[key] = named

    def roles(self, steps: Iterable[_Step], roles: Roles) -> None:
        """Add the contents of the noted manifests ``steps`` output to ``roles``."""
        manifests = self.manifests
        for step in steps:
            for name, manifest in step.outputs.items():
                contents = manifests.get(manifest)
                if not contents:
                    continue
                index = step.index
                for content, path in contents.items():
                    if content not in roles:
                        roles[content] = ((name, path, index, step.action), index)

    def check(self, store: TraceStore, steps: Iterable[_Step]) -> list[Problem]:
        """The contents of the manifests noted since the last call that ``steps`` output,
        read and verified; a problem for each failing one."""
        if not self.manifests:  # the common case: no file was written
            return []
        roles: Roles = {}
        self.roles(steps, roles)
        self.manifests.clear()
        checked, failed = self._checked, self._failed
        for key in [k for k in roles if k in checked or k in failed]:
            if key in checked:
                checked.move_to_end(key)
            del roles[key]
        problems = _read_problems(store, roles)
        failed.update(p.artifact for p in problems if p.artifact is not None)
        checked.update(dict.fromkeys(k for k in roles if k not in failed))
        while len(checked) > RECENT:
            checked.popitem(last=False)
        return problems


def kept_record_problems(
    store: TraceStore,
    run: RunRecord,
    steps: Sequence[StepRecord],
    files: FileContents | None = None,
) -> list[Problem]:
    """A problem for each kept record of ``run`` that is missing or whose bytes do not match
    its digest, naming what it holds and where it belongs.

    ``files``: the file and directory manifests ``verify_trace`` read; the contents of those
    a step wrote are checked here (the bytes ``get`` writes out and a reproduction compares).
    """
    roles: Roles = {}
    for step in steps:
        key = observed_of(step).get("output")
        if isinstance(key, str) and key not in roles:
            roles[key] = (f"captured output of step {step.index} ({step.action})", step.index)
    if files is not None:
        files.roles(steps, roles)
    _code_roles(store, run, roles)
    return _read_problems(store, roles)


def code_record_problems(store: TraceStore, run: RunRecord) -> list[Problem]:
    """``kept_record_problems`` of the run's code record and its sources only (no steps
    read): what ``import`` and ``export`` check besides the sealed trace."""
    roles: Roles = {}
    _code_roles(store, run, roles)
    return _read_problems(store, roles)


def _code_roles(store: TraceStore, run: RunRecord, roles: Roles) -> None:
    manifest_key = _code_key(store, run)
    if manifest_key is not None:
        roles[manifest_key] = (f"code record of run {run.id}", None)
        # its sources, if the manifest itself reads (else the read below says it does not)
        for key, file in _sources(store, manifest_key).items():
            roles.setdefault(key, (f"source of {file} in the code record of run {run.id}", None))


def _read_problems(store: TraceStore, roles: Roles) -> list[Problem]:
    """``roles`` read in one call; a problem for each missing or damaged one, or one
    recorded under another codec than its kind is written with (an edited record: the seal
    covers the codecs of step artifacts, not these), in order."""
    if not roles:
        return []
    found = []
    for read in store.read_artifacts(list(roles)):
        what, step = roles[read.digest]
        expected = "json" if isinstance(what, str) else "bytes"  # a file's content: bytes
        if read.error is not None:
            found.append(Problem("artifact", f"{_said(what)}: {read.error}", step, read.digest))
        elif read.codec != expected:
            why = f"recorded as {read.codec!r}, which it is never written as ({expected!r})"
            found.append(Problem("artifact", f"{_said(what)}: {why}", step, read.digest))
    return found


def _said(what: str | Content) -> str:
    if isinstance(what, str):
        return what
    name, path, step, action = what
    output = "file output" if path is None else f"{path!r} in directory output"
    return f"content of {output} {name!r} of step {step} ({action})"


def _code_key(store: TraceStore, run: RunRecord) -> str | None:
    """The digest of the code manifest the run's environment snapshot names (None: none, or
    the snapshot itself is unreadable, which ``verify_trace`` reports)."""
    try:
        key = load_json(store, run.environment).get("code")
    except ReprolamError:
        return None
    return key if isinstance(key, str) else None


def _sources(store: TraceStore, manifest_key: str) -> dict[str, str]:
    """Digest -> file of each source text the code manifest lists (none if it is unreadable)."""
    try:
        manifest: dict[str, Any] = load_json(store, manifest_key)
    except ReprolamError:
        return {}
    files: dict[str, str] = {}
    for module in manifest.get("modules", {}).values():
        sources = module.get("sources") if isinstance(module, dict) else None
        for file, key in (sources or {}).items():
            if isinstance(key, str):
                files.setdefault(key, str(file))
    return files
