from __future__ import annotations

import math

import numpy as np
from flask import Flask, jsonify

from service.jsonio import dumps_bytes


def test_numpy_values_serialize_and_non_finite_become_null() -> None:
    payload = {
        "array": np.array([1.5, np.nan, np.inf], dtype=np.float32),
        "transposed": np.arange(6.0).reshape(2, 3).T,
        "scalar": np.float64(2.5),
        "integer": np.int64(7),
        "nan": math.nan,
        "inf": -math.inf,
    }
    assert dumps_bytes(payload) == (
        b'{"array":[1.5,null,null],"transposed":[[0.0,3.0],[1.0,4.0],[2.0,5.0]],'
        b'"scalar":2.5,"integer":7,"nan":null,"inf":null}'
    )


def test_flask_jsonify_goes_through_orjson(app: Flask) -> None:
    with app.app_context():
        response = jsonify({"value": float("nan")})
    assert response.get_data() == b'{"value":null}'
    assert b"NaN" not in response.get_data()
