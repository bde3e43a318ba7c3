"""Array limits: MAX_ARRAY_ELEMENTS is reachable through .npy under the default body limit, and
/v1/normalize/compare (five outputs a request) has its own, smaller bound."""

from __future__ import annotations

import io

import numpy as np
from flask import Flask

from service import create_app
from service.config import Settings
from tests.payloads import npy


def test_a_float32_npy_of_max_array_elements_fits_the_default_body_limit(app: Flask) -> None:
    defaults = Settings(database_url="sqlite://", secret_key="s")
    limit = defaults.max_array_elements
    body = npy(np.ones((limit // 1000, 1000), dtype=np.float32))
    assert len(body) <= defaults.max_content_length  # 4,000,000 floats: 16,000,128 bytes
    assert app.config["MAX_CONTENT_LENGTH"] == defaults.max_content_length
    client = app.test_client()
    headers = {"Content-Type": "application/x-npy", "Accept": "application/x-npy"}
    accepted = client.post("/v1/normalize/layer", data=body, headers=headers)
    assert accepted.status_code == 200
    output = np.load(io.BytesIO(accepted.data))
    assert output.shape == (limit // 1000, 1000)
    one_more = npy(np.ones(limit + 1, dtype=np.float32))
    assert len(one_more) <= defaults.max_content_length
    refused = client.post("/v1/normalize/layer", data=one_more, headers=headers)
    assert refused.status_code == 422
    assert f"has {limit + 1} elements" in refused.json["detail"]
    assert refused.json["limit"] == {"name": "MAX_ARRAY_ELEMENTS", "value": limit}
    assert refused.json["cost"] == limit + 1


def test_every_array_over_max_array_elements_names_the_setting(settings: Settings) -> None:
    client = create_app(settings.with_overrides(max_array_elements=10)).test_client()
    npz = io.BytesIO()
    np.savez(npz, input=np.ones((2, 3)), weight=np.ones(11))
    for body, content_type in [
        (npy(np.ones(11)), "application/x-npy"),
        (npz.getvalue(), "application/x-npz"),
        (
            b'{"input": [[1, 2, 3], [4, 5, 6]], "weight": [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]}',
            "application/json",
        ),
    ]:
        response = client.post("/v1/normalize/layer", data=body, content_type=content_type)
        assert response.status_code == 422, content_type
        problem = response.json
        assert problem["type"] == "urn:activation-lab:problem:limit-exceeded"
        assert problem["limit"] == {"name": "MAX_ARRAY_ELEMENTS", "value": 10}
        assert problem["cost"] == 11
        assert "MAX_ARRAY_ELEMENTS = 10" in problem["detail"]


def test_compare_is_bounded_by_max_compare_elements(settings: Settings) -> None:
    client = create_app(settings.with_overrides(max_compare_elements=100)).test_client()
    assert (
        client.post("/v1/normalize/compare", json={"input": [[1.0] * 10] * 10}).status_code == 200
    )
    response = client.post("/v1/normalize/compare", json={"input": [[1.0] * 10] * 11})
    assert response.status_code == 422
    problem = response.json
    assert problem["type"] == "urn:activation-lab:problem:limit-exceeded"
    assert problem["limit"] == {"name": "MAX_COMPARE_ELEMENTS", "value": 100}
    assert problem["cost"] == 110
    assert "MAX_COMPARE_ELEMENTS" in problem["detail"]
    assert problem["errors"].keys() == {"input"}
