"""The codec protocol and the tagged-bytes ``Serializer`` (LangGraph's serializer style).

A value goes to the first codec, in order, whose ``can_encode`` accepts it; the store
keeps the codec's ``tag`` next to the bytes, and ``loads_typed`` dispatches on it.
Trust is a property of the serializer (of the store being read), never a global: a codec
that sets ``requires_trust`` is refused outright on an untrusted serializer, and one that
sets ``trust_aware`` receives ``decode(data, trusted=...)`` to relax its own checks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from reprolam.codecs._frame import FrameCodec
from reprolam.codecs._json import JsonCodec
from reprolam.codecs._model import ModelCodec
from reprolam.codecs._npy import NpyCodec
from reprolam.codecs._pickle import PickleCodec
from reprolam.codecs._tree import TreeCodec
from reprolam.errors import CodecError


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
    return [JsonCodec(), NpyCodec(), FrameCodec(), ModelCodec(), TreeCodec(), PickleCodec()]


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
        raise CodecError(
            f"no codec can encode a value of type {type(value).__module__}."
            f"{type(value).__qualname__} (tried {', '.join(self.tags)}); register a codec "
            "for it with Serializer.register, or return plain data"
        )

    def loads_typed(self, tag: str, data: bytes) -> Any:
        """The value stored as ``(tag, data)``; ``CodecError`` if it cannot be loaded safely."""
        codec = self._by_tag.get(tag)
        if codec is None:
            raise CodecError(
                f"unknown codec tag {tag!r}; known tags: {', '.join(self.tags)}. The artifact "
                "was written with a codec this serializer lacks: register it first"
            )
        if getattr(codec, "requires_trust", False) and not self.trusted:
            raise CodecError(
                f"artifact is a {tag}; loading it could execute code; load the store with "
                "{trusted=True} only if you trust it"
            )
        try:
            if getattr(codec, "trust_aware", False):
                trust_aware: Any = codec
                return trust_aware.decode(data, trusted=self.trusted)
            return codec.decode(data)
        except CodecError:
            raise
        except Exception as exc:  # never let a library traceback escape for bad bytes
            raise CodecError(
                f"cannot decode {tag} artifact ({len(data)} bytes): {type(exc).__name__}: {exc}"
            ) from exc


def default_serializer(*, trusted: bool = False) -> Serializer:
    """json, npy, frame, model, tree, pickle -- in that order."""
    return Serializer(trusted=trusted)
