"""The ``xarray`` codec (extra ``reprolam[xarray]``): ``DataArray`` and ``Dataset``, canonical.

Registered through the ``reprolam.codecs`` entry point group, like a user's codec would
be, and imported only when such a value shows up. A value becomes xarray's own
``to_dict(data="array")`` form -- dims, coordinates, attributes and NumPy data --
walked by the value walker (``_values``) into one container: canonical (keys sorted,
arrays as ``.npy`` blobs) and safe to load (``from_dict`` on decoded data, no pickle).
Variable order is not kept (it comes back sorted, as dict keys do); encodings are not kept.
"""

from __future__ import annotations

from typing import Any

from reprolam.codecs._container import pack, unpack
from reprolam.codecs._npy import array_bytes
from reprolam.codecs._values import TreeDecoder, TreeEncoder, Unrepresentable
from reprolam.errors import CodecError

FORMAT = "reprolam-xarray/1"
_KINDS = ("DataArray", "Dataset")


def _kind(value: Any) -> str | None:
    kind = type(value)
    if kind.__module__.partition(".")[0] == "xarray" and kind.__name__ in _KINDS:
        return kind.__name__
    return None


class XarrayCodec:
    tag = "xarray"

    def can_encode(self, value: Any) -> bool:
        return self.try_encode(value) is not None

    def try_encode(self, value: Any) -> bytes | None:
        kind = _kind(value)
        if kind is None:
            return None
        encoder = TreeEncoder()
        try:
            root = encoder.encode(value.to_dict(data="array", encoding=False))
        except Unrepresentable:
            return None
        return pack(
            {"format": FORMAT, "kind": kind, "root": root}, [array_bytes(a) for a in encoder.arrays]
        )

    def encode(self, value: Any) -> bytes:
        data = self.try_encode(value)
        if data is None:
            raise CodecError(f"xarray codec cannot encode {type(value).__name__}")
        return data

    def decode(self, data: bytes) -> Any:
        import xarray as xr

        header, blobs = unpack(data)
        if header.get("format") != FORMAT or header.get("kind") not in _KINDS:
            raise CodecError(f"xarray artifact has format {header.get('format')!r}")
        content = TreeDecoder(blobs, trusted=False, what="xarray artifact").decode(header["root"])
        try:
            return getattr(xr, header["kind"]).from_dict(content)
        except Exception as exc:  # malformed content: xarray's own ValueError/KeyError
            raise CodecError(f"xarray artifact is malformed: {type(exc).__name__}: {exc}") from exc
