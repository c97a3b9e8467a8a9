"""Codecs: one protocol turning values into canonical, tagged bytes and back.

``default_serializer()`` tries, in order: ``bytes`` (raw bytes), ``json`` (plain data),
``npy`` (numpy arrays), ``frame`` (pandas DataFrame/Series), ``model`` (scikit-learn
estimators), ``tree`` (everything else the value walker knows: containers mixing those,
sets, dates, decimals, paths, sparse matrices, ...), then codecs from the
``reprolam.codecs`` entry point group. ``pickle`` comes last only in a trusted serializer
(an explicit opt-in). Every codec but ``pickle`` is canonical -- equal values give equal
bytes, hence equal artifact ids, in any process -- and none of them executes code on load.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Imported on first use (PEP 562): most codecs need numpy or pandas, and read-only commands
# (``reprolam show``) that only decode JSON should not pay for them.
_EXPORTS = {
    "ENTRY_POINT_GROUP": "reprolam.codecs._serializer",
    "BytesCodec": "reprolam.codecs._bytes",
    "Codec": "reprolam.codecs._serializer",
    "FrameCodec": "reprolam.codecs._frame",
    "JsonCodec": "reprolam.codecs._json",
    "ModelCodec": "reprolam.codecs._model",
    "ModelVersionWarning": "reprolam.codecs._model",
    "NpyCodec": "reprolam.codecs._npy",
    "PickleCodec": "reprolam.codecs._pickle",
    "Serializer": "reprolam.codecs._serializer",
    "TreeCodec": "reprolam.codecs._tree",
    "default_serializer": "reprolam.codecs._serializer",
    "describe": "reprolam.codecs._describe",
    "plugin_codecs": "reprolam.codecs._serializer",
}

if TYPE_CHECKING:
    from reprolam.codecs._bytes import BytesCodec
    from reprolam.codecs._describe import describe
    from reprolam.codecs._frame import FrameCodec
    from reprolam.codecs._json import JsonCodec
    from reprolam.codecs._model import ModelCodec, ModelVersionWarning
    from reprolam.codecs._npy import NpyCodec
    from reprolam.codecs._pickle import PickleCodec
    from reprolam.codecs._serializer import (
        ENTRY_POINT_GROUP,
        Codec,
        Serializer,
        default_serializer,
        plugin_codecs,
    )
    from reprolam.codecs._tree import TreeCodec

__all__ = [
    "ENTRY_POINT_GROUP",
    "BytesCodec",
    "Codec",
    "FrameCodec",
    "JsonCodec",
    "ModelCodec",
    "ModelVersionWarning",
    "NpyCodec",
    "PickleCodec",
    "Serializer",
    "TreeCodec",
    "default_serializer",
    "describe",
    "plugin_codecs",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
