"""The analytic propagation answer rendered column-wise, without one Python object per layer.

orjson writes each per-layer column (a numpy array) as one JSON array; the texts are split into
their entries and interleaved with the keys into row objects by list slicing and one
`bytes.join`, all in C. A column whose rows all render alike (the width and weight variance of
a uniform network, grad_variance without backward) is folded into the text between entries, and
a column equal to an earlier one (variance and preactivation_variance of a linear network) is
written once.

The bytes are those of `jsonio.dumps_bytes` over the equivalent dict with one dict per layer
(the same float repr, `null` for a non-finite value, the same key order);
tests/simulations/test_rendering.py checks this against that reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import orjson

from service.jsonio import dumps_bytes
from service.numerics.network import NetworkSpec
from service.numerics.propagation import AnalyticColumns

_NUMPY: Final = orjson.OPT_SERIALIZE_NUMPY


class RowNumbers:
    """A column holding 1, 2, ..., length (the layer index)."""


ROW_NUMBERS: Final = RowNumbers()

# A column: a 1-d int or float array with one entry per row (floats written as float64, as the
# Python floats they equal), ROW_NUMBERS, or the JSON text of the value every row shares.
Column = np.ndarray | bytes | RowNumbers


def _constant_text(array: np.ndarray) -> bytes | None:
    """The JSON text of the array's entries if they all render alike, else None."""
    if array.dtype.kind == "f":
        finite = np.isfinite(array)
        if not finite.any():
            return b"null"
        if not finite.all():
            return None
        bits = array.view(f"u{array.dtype.itemsize}")  # bitwise: -0.0 and 0.0 differ
        if not bool((bits == bits[0]).all()):
            return None
    elif not bool((array == array[0]).all()):
        return None
    return orjson.dumps(array[:1], option=_NUMPY)[1:-1]


def _entries(array: np.ndarray) -> list[bytes]:
    """Each entry's JSON text (numbers and null never contain a comma)."""
    return orjson.dumps(array, option=_NUMPY)[1:-1].split(b",")


def _bitwise_equal(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal bit for bit, so that their JSON texts are equal."""
    if a is b:
        return True
    if a.dtype != b.dtype:
        return False
    unsigned = f"u{a.dtype.itemsize}"
    return bool(np.array_equal(a.view(unsigned), b.view(unsigned)))


def json_rows(
    columns: Sequence[tuple[str, Column]], length: int, *, before: bytes = b"", after: bytes = b""
) -> bytes:
    """A JSON array of `length` objects with the columns' names as keys, in order, between
    `before` and `after` (one copy of the whole text, however large).

    The array is dumps_bytes([{name: entry, ...}, ...]) with a non-finite float as None.
    """
    if length == 0:
        return before + b"[]" + after
    texts: list[bytes] = []  # the constant text before each varying column
    varying: list[list[bytes]] = []  # the entries of each varying column
    written: list[tuple[np.ndarray, list[bytes]]] = []
    text = b"{"
    for position, (name, column) in enumerate(columns):
        text += (b"," if position else b"") + orjson.dumps(name) + b":"
        if isinstance(column, bytes):
            text += column
            continue
        if isinstance(column, RowNumbers):
            if length == 1:
                text += b"1"
                continue
            entries = _entries(np.arange(1, length + 1, dtype=np.int64))
        else:
            array = np.ascontiguousarray(column)
            if array.shape != (length,) or array.dtype.kind not in "iuf":
                raise ValueError(f"column {name!r}: expected {length} numbers, got {array.shape}")
            if array.dtype.kind == "f" and array.dtype != np.float64:
                array = array.astype(np.float64)  # written as the Python floats they equal
            constant = _constant_text(array)
            if constant is not None:
                text += constant
                continue
            same = [done for other, done in written if _bitwise_equal(other, array)]
            entries = same[0] if same else _entries(array)
            written.append((array, entries))
        texts.append(text)
        varying.append(entries)
        text = b""
    last = text + b"}"
    if not varying:
        return b"".join((before, b"[", b",".join([last] * length), b"]", after))
    # Row i is texts[0] v0[i] texts[1] v1[i] ... v{m-1}[i] last, and rows are joined by ",".
    stride = 2 * len(varying)
    template: list[bytes] = []
    for text in texts:
        template += [text, b""]
    template[0] = last + b"," + texts[0]
    parts = template * length
    for j, entries in enumerate(varying):
        parts[2 * j + 1 :: stride] = entries
    parts[0] = before + b"[" + texts[0]
    parts.append(last + b"]" + after)
    return b"".join(parts)


def _per_layer(values: tuple[Any, ...], dtype: type[np.generic]) -> Column:
    """A spec's per-layer tuple: its JSON text when uniform (compared by ==, so never for 0.0,
    whose sign matters), else an array."""
    first = values[0]
    if first != 0 and values.count(first) == len(values):
        return dumps_bytes(first)
    return np.fromiter(values, dtype=dtype, count=len(values))


def spec_fields(mode: str, spec: NetworkSpec) -> dict[str, Any]:
    """The fields every propagation answer opens with (the network it describes)."""
    return {
        "mode": mode,
        "depth": spec.depth,
        "widths": list(spec.widths),
        "activation": spec.activation,
        "init": spec.init,
        "gain": spec.gain,
        "normalization": spec.normalization,
        "input_variance": spec.input_variance,
    }


def analytic_body(columns: AnalyticColumns) -> bytes:
    """The analytic propagation answer (the shape PropagationResultSchema documents)."""
    spec = columns.spec
    head = dumps_bytes(spec_fields("analytic", spec))
    tail = dumps_bytes(
        {
            "final_variance": columns.final_variance,
            "log10_final_variance": columns.log10_final_variance,
            "regime": columns.regime,
            "gain_per_layer": columns.gain_per_layer,
            "log10_gain_per_layer": columns.log10_gain_per_layer,
            "batch_size": None,
            "seed": None,
        }
    )
    null = b"null"
    return json_rows(
        [
            ("index", ROW_NUMBERS),
            ("width", _per_layer(spec.widths[1:], np.int64)),
            ("weight_variance", _per_layer(spec.weight_variances, np.float64)),
            ("preactivation_variance", columns.preactivation_variance),
            ("log10_preactivation_variance", columns.log10_preactivation_variance),
            ("variance", columns.variance),
            ("log10_variance", columns.log10_variance),
            ("mean", columns.mean),
            ("grad_variance", null if columns.grad_variance is None else columns.grad_variance),
            (
                "log10_grad_variance",
                null if columns.log10_grad_variance is None else columns.log10_grad_variance,
            ),
        ],
        spec.depth,
        before=head[:-1] + b',"layers":',
        after=b"," + tail[1:],
    )
