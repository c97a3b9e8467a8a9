"""The ``frame`` codec as the default serializer holds it: pandas loads on first use.

A value cannot be a pandas frame before pandas is imported, so until then this codec
declines at once; the real codec (``reprolam.codecs._frame``, which imports pandas) is
loaded on the first frame to encode or decode. Runs, replays and exports that never touch
a frame then never pay pandas' import (about 0.3 s).
"""

from __future__ import annotations

import sys
from typing import Any


class LazyFrameCodec:
    """``FrameCodec``, imported the first time a frame is encoded or decoded."""

    tag = "frame"

    def __init__(self) -> None:
        self._codec: Any = None

    def _real(self) -> Any:
        if self._codec is None:
            from reprolam.codecs._frame import FrameCodec

            self._codec = FrameCodec()
        return self._codec

    def can_encode(self, value: Any) -> bool:
        return "pandas" in sys.modules and bool(self._real().can_encode(value))

    def try_encode(self, value: Any) -> bytes | None:
        if "pandas" not in sys.modules:
            return None
        data: bytes | None = self._real().try_encode(value)
        return data

    def encode(self, value: Any) -> bytes:
        data: bytes = self._real().encode(value)
        return data

    def decode(self, data: bytes) -> Any:
        return self._real().decode(data)
