"""The artifacts a trace refers to, read and verified a page at a time, each reported once.

``verify_trace`` notes the digests a page of steps refers to; they are read in one store
call (``TraceStore.read_artifacts``: one query per page on SQL backends), their bytes
checked against their digests and handed to the caller's ``on_artifact`` (replay decodes
them). What the store records of each (codec and size) is kept for the run's seal.

Memory stays bounded whatever the run's length: digests verified lately are remembered in
a bounded set (an artifact referred to by step after step is read once), a failing one is
remembered so that it is reported once. The seal's lines (``trace.anchor``): for a
version-2 seal, each page's references are hashed in order once the page is read; for a
version-1 seal, the lines go to ``SortedLines``, which spills to a temporary file.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

from reprolam.errors import IntegrityError, NotFoundError, ReprolamError
from reprolam.history.sorted_lines import SortedLines
from reprolam.trace.anchor import MISSING, ReferenceStream, described, reference_lines
from reprolam.trace.contract import TraceStore

ArtifactCheck = Callable[[str, bytes, str], None]  # (digest, bytes, codec) -> raises if unusable
RECENT = 512  # digests verified lately, not read again (an LRU: hot ones stay)


class Failure(NamedTuple):
    """Why an artifact is unusable, said of its first reference: its step, and its role
    there (``what`` and ``name``: "input 'x'", "final output 'y'", "environment snapshot")."""

    step: int | None
    what: str
    name: str | None
    why: str
    markup: str | None = None  # ``why`` with its {option} markup, when it names an option

    @property
    def role(self) -> str:
        return self.what if self.name is None else f"{self.what} {self.name!r}"


class ArtifactPages:
    """``seal``: the version of the seal whose lines are kept (None: none, e.g. unsealed)."""

    def __init__(
        self, store: TraceStore, on_artifact: ArtifactCheck | None, seal: int | None = None
    ) -> None:
        self.store = store
        self.on_artifact = on_artifact
        self.metadata = SortedLines()  # version 1: "digest codec size" of each
        self.stream = ReferenceStream() if seal == 2 else None  # version 2
        self._sorted = seal == 1
        # Digest -> "codec size" of those read lately and of the failing ones, for the lines.
        self._recent: OrderedDict[str, str] = OrderedDict()
        self._failed: dict[str, str] = {}
        # Version 2: the name -> digest maps referred to since the last ``check``, in order.
        self._refs: list[dict[str, str]] | None = [] if self.stream is not None else None
        # key -> its first reference on this page: step, what and name (see ``Failure``)
        self._page: dict[str, tuple[int | None, str, str | None]] = {}
        self._last: dict[str, str] | None = None  # the outputs ``refer_step`` saw last

    def refer(self, key: str, step: int | None, what: str, name: str | None = None) -> bool:
        """Note a reference: True if ``key`` is read with this page (not checked lately)."""
        if key in self._page or key in self._failed:
            return False
        if key in self._recent:
            self._recent.move_to_end(key)
            return False
        self._page[key] = (step, what, name)
        return True

    def refer_step(
        self, step: int, inputs: dict[str, str], outputs: dict[str, str]
    ) -> list[str] | None:
        """``refer`` of a step's inputs, then its outputs: those read with this page (None
        for none: the common case, a step reading what the one before it wrote)."""
        page, failed, recent = self._page, self._failed, self._recent
        if self._refs is not None:
            self._refs += (inputs, outputs)
        first: list[str] | None = None
        # A step's inputs are often the very map of the step before's outputs (one decoded
        # map per text: ``stored_steps.Texts``): every digest in it was just referred to.
        refs = (
            (("output", outputs),)
            if inputs is self._last
            else (("input", inputs), ("output", outputs))
        )
        self._last = outputs
        for what, named in refs:
            for name, key in named.items():
                if key in page or key in failed:
                    continue
                if key in recent:
                    recent.move_to_end(key)
                    continue
                page[key] = (step, what, name)
                if first is None:
                    first = [key]
                else:
                    first.append(key)
        return first

    def listed(self, named: dict[str, str]) -> None:
        """A map the seal's version-2 lines list after the steps' (the run's outputs, its
        environment); its digests are ``refer``red by the caller."""
        if self._refs is not None:
            self._refs.append(named)

    def check(self) -> dict[str, Failure]:
        """Read and verify the artifacts referred to since the last call; the failing ones."""
        failed: dict[str, Failure] = {}
        page, self._page = self._page, {}
        if not page:
            self._hash_lines({})
            return failed
        on_artifact, recent = self.on_artifact, self._recent
        lines: dict[str, str] = {}
        for key, codec, size, data, error in self.store.read_artifacts(list(page)):
            lines[key] = line = MISSING if codec is None else f"{codec} {size}"
            why = markup = None
            if error is None:
                if on_artifact is not None and codec is not None and data is not None:
                    try:
                        on_artifact(key, data, codec)
                    except Exception as exc:  # a codec could not decode verified bytes
                        why = f"artifact {key} cannot be loaded: {type(exc).__name__}: {exc}"
                        markup = _markup_of(exc, why)
            elif isinstance(error, IntegrityError | NotFoundError):
                why = str(error)
                markup = _markup_of(error, why)  # a moved artifacts directory: its option
            else:  # e.g. its blob file could not be read
                why = f"artifact {key} cannot be loaded: {type(error).__name__}: {error}"
            if why is None:
                recent[key] = line
            else:
                self._failed[key] = line
                failed[key] = Failure(*page[key], why, markup)
        self._hash_lines(lines)
        while len(recent) > RECENT:  # after the lines: they may name any digest held
            recent.popitem(last=False)
        return failed

    def _hash_lines(self, read: dict[str, str]) -> None:
        """The seal's lines of the references since the last ``check`` (``read``: the
        digests read with this page; the others are recent or failing ones)."""
        if self._sorted:
            self.metadata.update(read.items())
        refs = self._refs
        if not refs or self.stream is None:
            return
        meta = _Described(read, self._recent, self._failed, self.store)
        texts: list[str] = []
        last: dict[str, str] | None = None
        text = ""
        for named in refs:
            if named is not last:  # a step's inputs are often the step before's outputs
                text = reference_lines(named, meta)
                last = named
            texts.append(text)
        self.stream.add("".join(texts))
        refs.clear()


class _Described(dict[str, str]):
    """Digest -> "codec size" of a page's reads, then of the recent and the failing ones;
    any other (a digest referred to again after it was forgotten) is read again."""

    def __init__(
        self,
        read: dict[str, str],
        recent: dict[str, str],
        failed: dict[str, str],
        store: TraceStore,
    ) -> None:
        super().__init__(read)
        self.recent = recent
        self.failed = failed
        self.store = store

    def __missing__(self, key: str) -> str:
        found = self.recent.get(key) or self.failed.get(key)
        if found is None:
            found = self[key] = described(self.store, [key])[key]
        return found


def _markup_of(exc: Exception, why: str) -> str | None:
    """``why`` with the {option} markup of a reprolam error kept (a pickle's refusal names
    the opt-in: ``trusted=True`` from Python, ``--trust-pickle`` on the command line)."""
    if not isinstance(exc, ReprolamError):
        return None
    kept = exc.render(lambda name, value: f"{{{name}}}" if value is None else f"{{{name}={value}}}")
    return why.removesuffix(str(exc)) + kept
