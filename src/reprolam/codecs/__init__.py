"""Codecs: one protocol turning values into canonical, tagged bytes and back.

``default_serializer()`` tries, in order: ``json`` (plain data), ``npy`` (numpy arrays),
``frame`` (pandas DataFrame/Series), ``model`` (scikit-learn estimators), ``tree``
(dicts/lists/tuples mixing those, e.g. ``{"X": X, "y": y}``) and ``pickle`` (anything
else; loading it needs a trusted serializer). Every codec but ``pickle`` is
canonical -- equal values give equal bytes, hence equal artifact ids, in any process --
and none of them executes code on load.
"""

from reprolam.codecs._describe import describe
from reprolam.codecs._frame import FrameCodec
from reprolam.codecs._json import JsonCodec
from reprolam.codecs._model import ModelCodec, ModelVersionWarning
from reprolam.codecs._npy import NpyCodec
from reprolam.codecs._pickle import PickleCodec
from reprolam.codecs._serializer import Codec, Serializer, default_serializer
from reprolam.codecs._tree import TreeCodec

__all__ = [
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
]
