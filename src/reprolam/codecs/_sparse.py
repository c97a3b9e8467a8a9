"""Value-tree node for ``scipy.sparse`` matrices and arrays, in one canonical form.

Whatever the format, the stored form is canonical CSR or CSC (duplicates summed, indices
sorted, index arrays int64) or, for COO, the row-major triplets of that CSR; so equal
matrices give equal bytes whatever order their entries were built in. Explicit zeros are
kept: they are part of a sparse structure some code relies on. ``lil``, ``dok``, ``dia``
and ``bsr`` (with its block size) are stored as CSR plus their format name and converted
back on load. The class is one of scipy.sparse's own ``*_matrix`` / ``*_array`` names,
looked up in an allow-list: loading constructs nothing else.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from reprolam.codecs._npy import array_supported
from reprolam.codecs._scalars import Unrepresentable
from reprolam.errors import CodecError

_FORMATS = ("csr", "csc", "coo", "lil", "dok", "dia", "bsr")
_CLASSES = frozenset(f"{f}_{k}" for f in _FORMATS for k in ("matrix", "array"))


def is_sparse(value: Any) -> bool:
    # Only look if scipy is loaded: a value cannot be a sparse matrix otherwise.
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and isinstance(value, sparse.sparray | sparse.spmatrix)


def encode_sparse(value: Any, add_blob: Callable[[npt.NDArray[Any]], int]) -> Any:
    name = type(value).__name__
    if type(value).__module__.partition(".")[0] != "scipy" or name not in _CLASSES:
        raise Unrepresentable(f"sparse class {type(value).__qualname__}")
    fmt = name.partition("_")[0]
    if len(value.shape) > 2:  # scipy's COO arrays may have more axes; CSR, the stored form, not
        raise Unrepresentable(
            f"a sparse array of {len(value.shape)} dimensions (only 1 or 2 are stored; "
            "store its .toarray(), or its coords and data)"
        )
    base = value.tocsc(copy=True) if fmt == "csc" else value.tocsr(copy=True)
    base.sum_duplicates()  # also sorts the indices
    if not array_supported(base.data):
        raise Unrepresentable(f"sparse data of dtype {base.data.dtype}")
    body: dict[str, Any] = {"class": name, "shape": [int(n) for n in value.shape]}
    if fmt == "coo":
        coo = base.tocoo()
        body["row"] = add_blob(np.asarray(coo.row, dtype=np.int64))
        body["col"] = add_blob(np.asarray(coo.col, dtype=np.int64))
        body["data"] = add_blob(np.ascontiguousarray(coo.data))
    else:
        body["indices"] = add_blob(np.asarray(base.indices, dtype=np.int64))
        body["indptr"] = add_blob(np.asarray(base.indptr, dtype=np.int64))
        body["data"] = add_blob(np.ascontiguousarray(base.data))
    if fmt == "bsr":
        body["blocksize"] = [int(n) for n in value.blocksize]
    return {"$sparse": body}


def decode_sparse(body: Any, blob: Callable[[Any], npt.NDArray[Any]]) -> Any:
    from scipy import sparse

    name = str(body["class"])
    if name not in _CLASSES:
        raise CodecError(f"sparse node names class {name[:40]!r}, which is not allowed")
    fmt, _, kind = name.partition("_")
    shape = tuple(int(n) for n in body["shape"])
    data = blob(body["data"])
    if fmt == "coo":
        # A 1-D COO array is stored with its one axis as "col" (its "row" is all zeros).
        cols = blob(body["col"])
        coords = (blob(body["row"]), cols) if len(shape) == 2 else (cols,)
        return getattr(sparse, name)((data, coords), shape=shape)
    indices, indptr = blob(body["indices"]), blob(body["indptr"])
    base_name = f"{'csc' if fmt == 'csc' else 'csr'}_{kind}"
    base = getattr(sparse, base_name)((data, indices, indptr), shape=shape)
    base.check_format(full_check=True)  # bounds-checks indices before any native code uses them
    if fmt in ("csr", "csc"):
        return base
    if fmt == "bsr":
        return base.tobsr(blocksize=tuple(int(n) for n in body["blocksize"]))
    return base.asformat(fmt)
