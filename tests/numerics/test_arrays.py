"""Submitted arrays: nested JSON lists, .npy and .npz bytes, and what each refuses."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from service.numerics.arrays import (
    array_from_nested,
    check_finite,
    dump_npy,
    dump_npz,
    float_dtype,
    load_npy,
    load_npz,
)
from service.numerics.errors import NumericsError


def _refused(match: str, call: Any, *args: Any, expect: str | None = None, **kwargs: Any) -> str:
    """Call and check the refusal; the error's field is `expect`, else the `field` passed."""
    with pytest.raises(NumericsError, match=match) as info:
        call(*args, **kwargs)
    assert info.value.field == (expect or kwargs["field"])
    return str(info.value)


# --- nested lists --------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nested_lists_become_contiguous_arrays(dtype: Any) -> None:
    obj = [[[1, 2.5], [3, -4]], [[5, 6], [7, 8e-3]]]
    array = array_from_nested(obj, field="input", dtype=dtype)
    np.testing.assert_array_equal(array, np.array(obj, dtype=dtype))
    assert array.dtype == dtype
    assert array.flags.c_contiguous
    assert array_from_nested([1.5], field="w").shape == (1,)
    assert array_from_nested(((1, 2), (3, 4)), field="w").shape == (2, 2)


@settings(max_examples=50, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=1, max_dims=4, max_side=4),
        elements=st.floats(-1e30, 1e30),
    )
)
def test_round_trip_through_json(array: np.ndarray) -> None:
    obj = json.loads(json.dumps(array.tolist()))
    np.testing.assert_array_equal(array_from_nested(obj, field="x", dtype=np.float64), array)


@pytest.mark.parametrize(
    ("obj", "match"),
    [
        ([[1, 2], [3]], "ragged: every list at nesting level 2 must hold 2 items"),
        ([[1, 2], 3], "ragged"),
        ([[1, [2]], [3, 4]], r"ragged: element \[0\]\[1\] is a list"),
        ([[[1], [2]], [[3], [4, 5]]], "ragged"),
        ([1, "2"], r"element \[1\] is a string '2', not a number"),
        ([[1, 2], [None, 4]], r"element \[1\]\[0\] is null"),
        ([[1, True]], r"element \[0\]\[1\] is true \(a boolean\)"),
        ([{"a": 1}], r"element \[0\] is a dict"),
        ([[1, 2], {"a": 1}], "ragged"),
        ([1.0, float("nan")], r"element \[1\] is NaN"),
        ([[1.0], [float("-inf")]], r"element \[1\]\[0\] is -infinity"),
        ([10**400], "too large"),
        ([1e39], "infinity .or too large for float32"),
        ([], "empty"),
        ([[]], r"empty \(shape \(1, 0\)\)"),
        (3.0, "must be a list of numbers"),
        ("[1, 2]", "must be a list of numbers"),
    ],
)
def test_bad_nested_input_is_refused_with_a_reason(obj: Any, match: str) -> None:
    _refused(match, array_from_nested, obj, field="input")


def test_the_field_is_the_request_field() -> None:
    _refused("ragged", array_from_nested, [[1], [2, 3]], field="running_var")


def test_element_and_depth_limits_are_named() -> None:
    message = _refused(
        "max_elements = 10", array_from_nested, [[0] * 11], field="weight", max_elements=10
    )
    assert "11 elements" in message
    array_from_nested([[0] * 10], field="weight", max_elements=10)
    deep: Any = [1.0]
    for _ in range(4):
        deep = [deep]
    _refused("max_depth = 4", array_from_nested, deep, field="input", max_depth=4)
    assert array_from_nested(deep, field="input", max_depth=5).shape == (1,) * 5
    # A very deep nesting is refused without recursion.
    for _ in range(10_000):
        deep = [deep]
    _refused("max_depth = 8", array_from_nested, deep, field="input")


def test_ragged_lists_hiding_many_elements_are_refused_before_conversion() -> None:
    obj = [[1.0], list(range(1000))]
    _refused("ragged", array_from_nested, obj, field="input", max_elements=10)


def test_a_million_numbers_convert_exactly() -> None:
    source = np.random.default_rng(0).standard_normal((64, 256, 64))
    array = array_from_nested(source.tolist(), field="input", max_elements=1 << 20)
    assert array.shape == (64, 256, 64)
    np.testing.assert_array_equal(array, source.astype(np.float32))


def test_float_dtype_accepts_only_float32_and_float64() -> None:
    assert float_dtype("float64") == np.float64
    assert float_dtype(np.float32) == np.float32
    _refused("float32 or float64", float_dtype, np.int64, field="dtype")
    _refused("unknown dtype", float_dtype, "quad", field="dtype")
    _refused(
        "float32 or float64", array_from_nested, [1], field="x", dtype=np.float16, expect="dtype"
    )


def test_check_finite_names_the_first_bad_index() -> None:
    array = np.zeros((2, 3))
    check_finite(array, "input")
    array[1, 2] = np.inf
    array[1, 1] = np.nan
    _refused(r"element \[1\]\[1\] is NaN", check_finite, array, "input", expect="input")
    _refused("the value is infinity", check_finite, np.array(np.inf), "eps", expect="eps")


# --- .npy ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.float32).reshape(3, 4),
        np.asfortranarray(np.arange(24, dtype=np.float64).reshape(2, 3, 4)),
        np.arange(6, dtype=">f8").reshape(2, 3),
        np.arange(5, dtype=np.int16),
    ],
    ids=["f32", "fortran", "big-endian", "int16"],
)
def test_npy_round_trip(array: np.ndarray) -> None:
    loaded = load_npy(dump_npy(array), field="input")
    np.testing.assert_array_equal(loaded, array)
    assert loaded.flags.c_contiguous
    assert loaded.flags.writeable
    assert loaded.dtype.isnative
    converted = load_npy(dump_npy(array), field="input", dtype=np.float32)
    assert converted.dtype == np.float32
    np.testing.assert_array_equal(converted, array.astype(np.float32))


def test_npy_written_by_numpy_save_loads() -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.eye(3))
    np.testing.assert_array_equal(load_npy(buffer.getvalue(), field="input"), np.eye(3))


def _npy(array: np.ndarray, *, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def test_pickled_npy_is_refused() -> None:
    data = _npy(np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    _refused("object arrays .pickled", load_npy, data, field="input")
    _refused("not a well-formed .npy", load_npy, pickle.dumps(np.ones(3)), field="input")


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "not a well-formed"),
        (b"\x93NUMPY\x01\x00" + b"\x10\x00" + b"{'descr': 'zz'}", "not a well-formed"),
        (_npy(np.ones(4))[:-3], "promises 32 bytes of data, 29 follow"),
        (_npy(np.ones(4)) + b"\x00", "promises 32 bytes of data, 33 follow"),
        (_npy(np.array([1.0, np.nan])), r"element \[1\] is NaN"),
        (_npy(np.array([True, False])), "dtype bool is refused"),
        (_npy(np.array([1 + 2j])), "dtype complex128 is refused"),
        (_npy(np.array(["a"])), "dtype <U1 is refused"),
        (_npy(np.zeros(2, dtype=[("a", "f4"), ("b", "f4")])), "structured"),
        (_npy(np.zeros((0, 3))), "empty"),
    ],
)
def test_bad_npy_is_refused(data: bytes, match: str) -> None:
    _refused(match, load_npy, data, field="input")


def test_npy_element_limit_is_checked_from_the_header() -> None:
    header = _npy(np.zeros((1000, 1000), dtype=np.float32))[:128]  # the data is not even there
    message = _refused("max_elements = 1000", load_npy, header, field="input", max_elements=1000)
    assert "(1000, 1000)" in message


def test_dump_npy_refuses_objects() -> None:
    _refused("object arrays", dump_npy, np.array([None]), expect="array")


# --- .npz ----------------------------------------------------------------------------------------


def test_npz_round_trip_and_numpy_savez_compressed() -> None:
    arrays = {"input": np.ones((2, 3), np.float32), "weight": np.arange(3.0)}
    loaded = load_npz(dump_npz(arrays), field="body")
    assert loaded.keys() == arrays.keys()
    for name, array in arrays.items():
        np.testing.assert_array_equal(loaded[name], array)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, input=arrays["input"], weight=arrays["weight"])
    assert load_npz(buffer.getvalue(), field="body", dtype=np.float64)["input"].dtype == np.float64


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)
    return buffer.getvalue()


def test_bad_npz_is_refused() -> None:
    _refused("not a well-formed .npz", load_npz, b"not a zip", field="body")
    _refused("empty .npz", load_npz, _zip({}), field="body")
    _refused("not a top-level .npy", load_npz, _zip({"a.txt": b"x"}), field="body")
    _refused("not a top-level .npy", load_npz, _zip({"dir/a.npy": _npy(np.ones(2))}), field="body")
    many = {f"a{i}.npy": _npy(np.ones(1)) for i in range(3)}
    _refused("max_arrays = 2", load_npz, _zip(many), field="body", max_arrays=2)
    pickled = _zip({"x.npy": _npy(np.array([None]), allow_pickle=True)})
    _refused("object arrays", load_npz, pickled, field="body", expect="body.x")


def test_npz_bomb_is_refused_before_decompression() -> None:
    # 80 MB of zeros deflate to ~80 kB; the declared size gives it away.
    bomb = _zip({"x.npy": _npy(np.zeros(10_000_000))}, compression=zipfile.ZIP_DEFLATED)
    assert len(bomb) < 1_000_000
    _refused("more than an array of max_elements", load_npz, bomb, field="body", max_elements=1000)


def test_dump_npz_refuses_bad_names() -> None:
    _refused("plain file name", dump_npz, {"a/b": np.ones(1)}, expect="arrays")
