"""The ``xarray`` codec (extra ``reprolam[xarray]``): ``DataArray`` and ``Dataset``, canonical.

Registered through the ``reprolam.codecs`` entry point group, like a user's codec would
be, and imported only when such a value shows up. A value becomes the form of xarray's
``to_dict(data="array")`` -- dims, coordinates, attributes and NumPy data --
walked by the value walker (``_values``) into one container: canonical (keys sorted,
arrays as ``.npy`` blobs) and safe to load (``from_dict`` on decoded data, no pickle).
The form is built here, not by ``to_dict``, which casts datetime64/timedelta64 data to
microseconds (dropping nanoseconds) and attributes' NumPy arrays and scalars to lists and
Python scalars: values are kept as they are.
Variable order is not kept (it comes back sorted, as dict keys do); encodings are not kept.
"""

from __future__ import annotations

from typing import Any

from reprolam.codecs._container import pack, unpack
from reprolam.codecs._npy import array_parts
from reprolam.codecs._values import TreeDecoder, TreeEncoder, Unrepresentable
from reprolam.errors import CodecError

FORMAT = "reprolam-xarray/1"
_KINDS = ("DataArray", "Dataset")


def _kind(value: Any) -> str | None:
    kind = type(value)
    if kind.__module__.partition(".")[0] == "xarray" and kind.__name__ in _KINDS:
        return kind.__name__
    return None


def _has_multi_index(value: Any) -> bool:
    """A pandas MultiIndex coordinate, which ``from_dict`` would rebuild as tuples (refused)."""
    return any(type(index).__name__ == "PandasMultiIndex" for index in value.xindexes.values())


def why_not(value: Any) -> str | None:
    """Why an xarray value is not encoded (None if it is, or is no xarray value)."""
    kind = _kind(value)
    if kind is None:
        return None
    if _has_multi_index(value):
        return (
            f"a {kind} with a pandas MultiIndex coordinate, which xarray rebuilds as tuples: "
            "reset_index() it into plain coordinates first"
        )
    try:
        TreeEncoder().encode(_as_dict(value, kind))
    except Unrepresentable as exc:
        return f"a {kind} holding {exc}"
    return None


def _variable_dict(variable: Any) -> dict[str, Any]:
    return {"dims": variable.dims, "attrs": dict(variable.attrs), "data": variable.data}


def _as_dict(value: Any, kind: str) -> dict[str, Any]:
    """``value.to_dict(data="array")``'s form, holding the data and attributes unchanged."""
    if kind == "DataArray":
        content = _variable_dict(value.variable)
        content["coords"] = {k: _variable_dict(c.variable) for k, c in value.coords.items()}
        content["name"] = value.name
        return content
    return {
        "coords": {k: _variable_dict(value[k].variable) for k in value.coords},
        "attrs": dict(value.attrs),
        "dims": dict(value.sizes),
        "data_vars": {k: _variable_dict(value[k].variable) for k in value.data_vars},
    }


class XarrayCodec:
    tag = "xarray"

    def can_encode(self, value: Any) -> bool:
        return self.try_encode(value) is not None

    def try_encode(self, value: Any) -> bytes | None:
        kind = _kind(value)
        if kind is None or _has_multi_index(value):
            return None
        encoder = TreeEncoder()
        try:
            root = encoder.encode(_as_dict(value, kind))
        except Unrepresentable:
            return None
        return pack(
            {"format": FORMAT, "kind": kind, "root": root}, [array_parts(a) for a in encoder.arrays]
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
