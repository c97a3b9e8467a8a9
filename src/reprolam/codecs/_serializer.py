"""The codec protocol and the tagged-bytes ``Serializer`` (LangGraph's serializer style).

A value goes to the first codec, in order, whose ``can_encode`` accepts it; the store
keeps the codec's ``tag`` next to the bytes, and ``loads_typed`` dispatches on it.
Trust is a property of the serializer (of the store being read), never a global: a codec
that sets ``requires_trust`` is refused outright on an untrusted serializer, and one that
sets ``trust_aware`` receives ``decode(data, trusted=...)`` to relax its own checks.

No silent pickle: ``pickle`` is in the encoding chain only of a trusted serializer (the
user opted in, and the run records it). An untrusted one still knows the tag, so an old
pickle artifact is refused with the way to opt in rather than as an unknown codec.
Users' codecs come from the ``reprolam.codecs`` entry point group (each entry names a
codec class or instance) and go before the built-in catch-alls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from reprolam.codecs._bytes import BytesCodec
from reprolam.codecs._files import DirCodec, FileCodec
from reprolam.codecs._frame_lazy import LazyFrameCodec
from reprolam.codecs._json import JsonCodec
from reprolam.codecs._model import ModelCodec
from reprolam.codecs._npy import NpyCodec
from reprolam.codecs._pickle import OPT_IN, PickleCodec
from reprolam.codecs._tree import TreeCodec, why_not
from reprolam.errors import CodecError

ENTRY_POINT_GROUP = "reprolam.codecs"
_plugins: dict[str, list[Codec]] = {}  # loaded once per process (a dict: no global statement)


class Codec(Protocol):
    """Turns some values into canonical bytes and back.

    ``encode`` must be canonical: equal values give equal bytes in any process.
    Optional members read by ``Serializer``: ``try_encode(value) -> bytes | None``
    (``encode`` if possible, else None, in one pass; used instead of ``can_encode`` +
    ``encode`` when present), ``requires_trust`` (decoding can execute code),
    ``trust_aware`` (``decode`` takes a keyword-only ``trusted`` flag) and ``catch_all``
    (accepts nearly anything, so ``register`` puts new codecs before it).
    """

    tag: str

    def can_encode(self, value: Any) -> bool: ...

    def encode(self, value: Any) -> bytes: ...

    def decode(self, data: bytes) -> Any: ...


def _default_codecs() -> list[Codec]:
    return [
        BytesCodec(),
        JsonCodec(),
        NpyCodec(),
        LazyFrameCodec(),
        ModelCodec(),
        TreeCodec(),
        FileCodec(),
        DirCodec(),
    ]


def plugin_codecs() -> list[Codec]:
    """Codecs installed under the ``reprolam.codecs`` entry point group (loaded once)."""
    if "loaded" not in _plugins:
        from importlib.metadata import entry_points

        found: list[Codec] = []
        for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            try:
                loaded = entry.load()
                found.append(loaded() if isinstance(loaded, type) else loaded)
            except Exception as exc:  # a broken plug-in must say which one
                raise CodecError(
                    f"codec entry point {entry.name!r} ({entry.value}) in group "
                    f"{ENTRY_POINT_GROUP!r} cannot be loaded: {type(exc).__name__}: {exc}; "
                    "fix or uninstall the package that declares it"
                ) from exc
        _plugins["loaded"] = found
    return list(_plugins["loaded"])


class Serializer:
    """Value <-> ``(tag, bytes)`` through an ordered list of codecs.

    ``trusted`` says whether the store being read is trusted: only then may codecs that
    can execute code on load (``pickle``) decode.
    """

    def __init__(self, codecs: Sequence[Codec] | None = None, *, trusted: bool = False) -> None:
        self.trusted = trusted
        self._codecs: list[Codec] = []
        self._by_tag: dict[str, Codec] = {}
        self._encoders: list[tuple[Codec, Callable[[Any], bytes | None] | None]] = []
        for codec in _default_codecs() if codecs is None else codecs:
            self._insert(len(self._codecs), codec)  # an explicit list keeps its order
        if codecs is None:
            for plugin in plugin_codecs():
                self.register(plugin)
            pickle = PickleCodec()
            if trusted:
                self._insert(len(self._codecs), pickle)
            else:  # known, so old pickles are refused with the way to opt in
                self._by_tag.setdefault(pickle.tag, pickle)

    @property
    def pickles(self) -> bool:
        """Whether values no canonical codec takes are pickled (the recorded opt-in)."""
        return any(codec.tag == "pickle" for codec in self._codecs)

    @property
    def codecs(self) -> tuple[Codec, ...]:
        """The codecs in the order ``dumps_typed`` tries them."""
        return tuple(self._codecs)

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(codec.tag for codec in self._codecs)

    def register(self, codec: Codec, *, first: bool = False) -> None:
        """Add a codec: first of all, or else before any catch-all codec (``pickle``)."""
        if first:
            position = 0
        else:
            position = len(self._codecs)
            while position > 0 and getattr(self._codecs[position - 1], "catch_all", False):
                position -= 1
        self._insert(position, codec)

    def _insert(self, position: int, codec: Codec) -> None:
        if codec.tag in self._by_tag:
            raise CodecError(
                f"a codec with tag {codec.tag!r} is already registered; tags identify stored "
                "artifacts, so each must be unique (pick another tag)"
            )
        self._codecs.insert(position, codec)
        self._by_tag[codec.tag] = codec
        # Looked up once here, not per value: dumps_typed is on every action's hot path.
        self._encoders = [(c, getattr(c, "try_encode", None)) for c in self._codecs]

    def dumps_typed(self, value: Any) -> tuple[str, bytes]:
        """``(tag, bytes)`` from the first codec, in order, that can encode ``value``."""
        codec: Codec | None = None
        try:
            for codec, try_encode in self._encoders:
                if try_encode is not None:
                    data = try_encode(value)
                    if data is not None:
                        return codec.tag, data
                elif codec.can_encode(value):
                    return codec.tag, codec.encode(value)
        except CodecError:
            raise
        except Exception as exc:  # a codec's bug, reported with its tag
            tag = codec.tag if codec is not None else "?"
            raise CodecError(
                f"codec {tag!r} failed to encode {type(value).__name__}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        kind = type(value)
        reason = why_not(value)
        because = f" ({reason})" if reason else ""
        # trusted: pickle was tried too, so opting in to it is no fix
        last = f", or {OPT_IN}" if not self.pickles else f"; {_unpicklable(value)}"
        raise CodecError(
            f"no codec can encode {kind.__module__}.{kind.__qualname__}{because}: convert it "
            "to data reprolam stores (arrays, frames, dicts, ...), register a codec for it "
            f"(entry point group {ENTRY_POINT_GROUP!r}){last}"
        )

    def loads_own(self, tag: str, data: bytes) -> Any:
        """Decode bytes this process has just encoded from a live value: trusted by origin.

        The engine hands later actions the decoded value, not the producer's object; such
        bytes need no protection from themselves (a pipeline holding the workflow's own
        function must load), whatever the store's trust.
        """
        return self.loads_typed(tag, data, trusted=True)

    def loads_kept(self, tag: str, data: bytes) -> Any:
        """``loads_own`` for a value the engine keeps and hands out only as copies
        (``RunLoop._input``): where a codec can, it shares ``data``'s memory, read-only (an
        array), which saves a copy of every big array an action returns."""
        decode_shared = getattr(self._by_tag.get(tag), "decode_shared", None)
        if decode_shared is not None:
            return decode_shared(data)
        return self.loads_own(tag, data)

    def loads_typed(self, tag: str, data: bytes, *, trusted: bool | None = None) -> Any:
        """The value stored as ``(tag, data)``; ``CodecError`` if it cannot be loaded safely."""
        trusted = self.trusted if trusted is None else trusted
        codec = self._by_tag.get(tag)
        if codec is None:
            raise CodecError(
                f"unknown codec tag {tag!r}; known tags: {', '.join(self.tags)}. The artifact "
                "was written with a codec this serializer lacks: register it first"
            )
        if getattr(codec, "requires_trust", False) and not trusted:
            raise CodecError(
                f"artifact is a {tag}; loading it could execute code; load the store with "
                "{trusted=True} only if you trust it"
            )
        try:
            if getattr(codec, "trust_aware", False):
                trust_aware: Any = codec
                return trust_aware.decode(data, trusted=trusted)
            return codec.decode(data)
        except CodecError:
            raise
        except Exception as exc:  # never let a library traceback escape for bad bytes
            raise CodecError(
                f"cannot decode {tag} artifact ({len(data)} bytes): {type(exc).__name__}: {exc}"
            ) from exc


def _unpicklable(value: Any) -> str:
    import pickle

    try:
        pickle.dumps(value)
    except Exception as exc:  # a user's __reduce__ may raise anything
        return f"pickle (opted in to) cannot take it either: {type(exc).__name__}: {exc}"
    return "pickle (opted in to) cannot take it either"


def default_serializer(*, trusted: bool = False) -> Serializer:
    """bytes, json, npy, frame, model, tree, file, dir, plug-ins; pickle last if ``trusted``."""
    return Serializer(trusted=trusted)
