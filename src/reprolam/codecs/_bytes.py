"""The ``bytes`` codec: raw ``bytes`` (a PNG, a PDF, a pickle the user made) stored as is.

The stored form is a 4-byte magic (``\\x93RLB``: not UTF-8, so never JSON; not the
container's ``\\x93RLC`` nor NumPy's ``\\x93NUMPY``) followed by the bytes. The magic keeps
a bytes value from ever having the same digest as another codec's artifact (``b'1'``
would otherwise collide with the JSON ``1``). File contents (``reprolam.files``) are
stored in this same form, streamed, so a file and the equal ``bytes`` value are one
artifact.
"""

from __future__ import annotations

from typing import Any

from reprolam.errors import CodecError

MAGIC = b"\x93RLB"


class BytesCodec:
    """Exactly ``bytes`` (``bytearray`` and memoryviews go through the tree codec)."""

    tag = "bytes"

    def can_encode(self, value: Any) -> bool:
        return type(value) is bytes

    def try_encode(self, value: Any) -> bytes | None:
        return MAGIC + value if type(value) is bytes else None

    def encode(self, value: Any) -> bytes:
        if type(value) is not bytes:
            raise CodecError(f"bytes codec cannot encode {type(value).__name__}")
        return MAGIC + value

    def decode(self, data: bytes) -> Any:
        if data[: len(MAGIC)] != MAGIC:
            raise CodecError("bytes artifact lacks its magic prefix; the artifact is corrupt")
        return data[len(MAGIC) :]
