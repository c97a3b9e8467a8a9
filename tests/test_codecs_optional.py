"""Codecs behind extras (xarray), found through the ``reprolam.codecs`` entry point group."""

from __future__ import annotations

import numpy as np
import pytest

from reprolam.codecs import default_serializer
from reprolam.errors import CodecError


def test_xarray_dataset_and_dataarray_round_trip_canonically() -> None:
    xr = pytest.importorskip("xarray")
    ser = default_serializer()
    assert "xarray" in ser.tags  # from the reprolam.codecs entry point
    times = np.array(["2024-01-01", "2024-01-02"], dtype="datetime64[ns]")
    temp = xr.DataArray(
        np.arange(6.0).reshape(2, 3),
        dims=("time", "site"),
        coords={"time": times, "site": ["a", "b", "c"]},
        name="temp",
        attrs={"units": "K"},
    )
    dataset = xr.Dataset({"temp": temp, "rain": temp * 2}, attrs={"source": "test"})
    for value in (temp, dataset):
        tag, data = ser.dumps_typed(value)
        assert tag == "xarray"
        back = ser.loads_typed(tag, data)
        xr.testing.assert_identical(back, value)
        assert ser.dumps_typed(back) == (tag, data)
    swapped = xr.Dataset({"rain": temp * 2, "temp": temp}, attrs={"source": "test"})
    assert ser.dumps_typed(swapped) == ser.dumps_typed(dataset)


def test_xarray_keeps_nanoseconds_and_numpy_attributes_as_they_are() -> None:
    xr = pytest.importorskip("xarray")
    ser = default_serializer()
    stamps = np.array(["2024-01-01T00:00:00.000000001"], dtype="datetime64[ns]")
    attrs = {"valid_range": np.array([0, 9], dtype=np.int16), "scale": np.float32(0.5)}
    array = xr.DataArray(
        np.array([7], dtype="timedelta64[ns]"),
        dims="time",
        coords={"time": stamps},
        name="lag",
        attrs=attrs,
    )
    dataset = xr.Dataset({"lag": array}, attrs=attrs)
    for value in (array, dataset):
        back = ser.loads_typed(*ser.dumps_typed(value))
        lag = back if value is array else back["lag"]
        for got, sent in ((lag, array), (back["time"], array["time"])):
            assert got.dtype == sent.dtype  # not cast to microseconds
            assert got.values.tobytes() == sent.values.tobytes()
        for owner in (back, lag):
            assert type(owner.attrs["scale"]) is np.float32  # not a Python float
            assert isinstance(owner.attrs["valid_range"], np.ndarray)  # not a list
            assert owner.attrs["valid_range"].tobytes() == attrs["valid_range"].tobytes()


def test_xarray_with_a_multiindex_coordinate_is_refused_not_flattened_to_tuples() -> None:
    xr = pytest.importorskip("xarray")
    pd = pytest.importorskip("pandas")
    ser = default_serializer()
    index = pd.MultiIndex.from_tuples([(1, "a"), (2, "b")], names=["n", "s"])
    coords = xr.Coordinates.from_pandas_multiindex(index, "z")
    dataset = xr.Dataset({"a": ("z", [1, 2])}, coords=coords)
    for value in (dataset, dataset["a"]):
        with pytest.raises(CodecError, match="no codec can encode xarray") as refused:
            ser.dumps_typed(value)
        # it said only 'DataArray has no canonical encoding', not why nor the fix
        assert "pandas MultiIndex coordinate" in str(refused.value)
        assert "reset_index()" in str(refused.value)


def test_xarray_holding_what_no_codec_takes_names_it() -> None:
    xr = pytest.importorskip("xarray")
    with pytest.raises(CodecError, match=r"a DataArray holding builtins\.object"):
        default_serializer().dumps_typed(xr.DataArray([1], attrs={"f": object()}))
