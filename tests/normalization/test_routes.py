"""/v1/normalize over HTTP: JSON and binary bodies, the response contract, and refusals.

The numbers are checked against PyTorch here only end to end; tests/numerics covers every
variant, rank and dtype in depth."""

from __future__ import annotations

import io
import warnings
import zipfile

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from flask.testing import FlaskClient

from tests.payloads import npy, npz

NPY = "application/x-npy"
NPZ = "application/x-npz"


@pytest.fixture
def activations() -> np.ndarray:
    return np.random.default_rng(7).normal(3.0, 2.0, size=(4, 3, 5)).astype(np.float32)


def test_layer_norm_json_matches_torch(client: FlaskClient, activations: np.ndarray) -> None:
    weight = np.linspace(0.5, 2.0, 5, dtype=np.float32)
    response = client.post(
        "/v1/normalize/layer",
        json={
            "input": activations.tolist(),
            "normalized_shape": [5],
            "weight": weight.tolist(),
            "bias": [0.1] * 5,
            "eps": 1e-5,
        },
    )
    assert response.status_code == 200
    body = response.json
    expected = F.layer_norm(
        torch.from_numpy(activations), (5,), torch.from_numpy(weight), torch.full((5,), 0.1), 1e-5
    )
    np.testing.assert_allclose(body["output"], expected.numpy(), atol=1e-5)
    assert body["shape"] == [4, 3, 5]
    assert body["dtype"] == "float32"
    assert body["reduced_axes"] == [2]
    assert np.asarray(body["mean"]).shape == (4, 3)
    assert body["summary"]["input"]["mean"] == pytest.approx(float(activations.mean()), rel=1e-6)
    assert body["summary"]["output"]["min"] == pytest.approx(float(expected.min()), abs=1e-5)


@pytest.mark.parametrize(
    ("variant", "body", "summary"),
    [
        # A constant group of 1e308: Σx overflows float64, the mean is exactly 1e308.
        (
            "group",
            {"input": [[[1e308] * 4] * 2] * 2, "num_groups": 2},
            {"input": (1e308, 0.0), "output": (0.0, 0.0)},
        ),
        # Outputs ±5e307/√(1 + eps): Σx is 0, but Σx² overflows.
        (
            "layer",
            {"input": [[1.0, -1.0, 1.0, -1.0]], "weight": [5e307] * 4},
            {"input": (0.0, 1.0), "output": (0.0, 5e307 / (1 + 1e-5) ** 0.5)},
        ),
    ],
)
def test_summary_of_values_near_the_largest_float64(
    client: FlaskClient,
    variant: str,
    body: dict[str, object],
    summary: dict[str, tuple[float, float]],
) -> None:
    """Found by a sweep of extreme values: the summary's mean and std overflowed to null,
    against the schema (Stats: numbers), with numpy's overflow warnings in the log."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning in the request is a 500 here
        response = client.post(f"/v1/normalize/{variant}", json={**body, "dtype": "float64"})
    assert response.status_code == 200
    for side, (mean, std) in summary.items():
        figures = response.json["summary"][side]
        assert (figures["mean"], figures["std"]) == (pytest.approx(mean), pytest.approx(std))


def test_layer_norm_defaults_to_the_last_dimension(client: FlaskClient) -> None:
    body = client.post("/v1/normalize/layer", json={"input": [[1, 2, 3, 4]]}).json
    np.testing.assert_allclose(
        body["output"], [[-1.3416355, -0.4472118, 0.4472118, 1.3416355]], rtol=1e-6
    )


def test_batch_norm_updates_running_stats_like_torch(
    client: FlaskClient, activations: np.ndarray
) -> None:
    running_mean = np.zeros(3, np.float32)
    running_var = np.ones(3, np.float32)
    body = client.post(
        "/v1/normalize/batch",
        json={
            "input": activations.tolist(),
            "running_mean": running_mean.tolist(),
            "running_var": running_var.tolist(),
            "momentum": 0.2,
        },
    ).json
    torch_mean, torch_var = torch.zeros(3), torch.ones(3)
    expected = F.batch_norm(
        torch.from_numpy(activations), torch_mean, torch_var, training=True, momentum=0.2
    )
    np.testing.assert_allclose(body["output"], expected.numpy(), atol=1e-5)
    np.testing.assert_allclose(body["running_mean"], torch_mean.numpy(), rtol=1e-5)
    np.testing.assert_allclose(body["running_var"], torch_var.numpy(), rtol=1e-5)


def test_instance_norm_eval_uses_running_stats(
    client: FlaskClient, activations: np.ndarray
) -> None:
    body = client.post(
        "/v1/normalize/instance",
        json={
            "input": activations.tolist(),
            "training": False,
            "running_mean": [1, 2, 3],
            "running_var": [4, 5, 6],
        },
    ).json
    expected = F.instance_norm(
        torch.from_numpy(activations),
        torch.tensor([1.0, 2, 3]),
        torch.tensor([4.0, 5, 6]),
        use_input_stats=False,
    )
    np.testing.assert_allclose(body["output"], expected.numpy(), atol=1e-5)


def test_rms_norm_float64_with_machine_epsilon(
    client: FlaskClient, activations: np.ndarray
) -> None:
    x = activations.astype(np.float64)
    body = client.post(
        "/v1/normalize/rms", json={"input": x.tolist(), "eps": None, "dtype": "float64"}
    ).json
    expected = F.rms_norm(torch.from_numpy(x), (5,), eps=None)
    np.testing.assert_allclose(body["output"], expected.numpy(), rtol=1e-12, atol=1e-12)
    assert body["eps"] == float(np.finfo(np.float64).eps)
    assert body["mean"] is None


def test_npy_in_npy_out(client: FlaskClient, activations: np.ndarray) -> None:
    response = client.post(
        "/v1/normalize/group?num_groups=3&eps=1e-5",
        data=npy(activations),
        content_type=NPY,
        headers={"Accept": NPY},
    )
    assert response.status_code == 200
    assert response.mimetype == NPY
    output = np.load(io.BytesIO(response.data), allow_pickle=False)
    assert output.dtype == np.float32
    expected = F.group_norm(torch.from_numpy(activations), 3, eps=1e-5)
    np.testing.assert_allclose(output, expected.numpy(), atol=1e-5)


def test_npz_in_npz_out(client: FlaskClient, activations: np.ndarray) -> None:
    body = npz(input=activations, weight=np.full(3, 2.0, np.float32), bias=np.zeros(3, np.float32))
    response = client.post(
        "/v1/normalize/batch", data=body, content_type=NPZ, headers={"Accept": NPZ}
    )
    assert response.status_code == 200
    archive = np.load(io.BytesIO(response.data), allow_pickle=False)
    assert set(archive.files) == {"output", "mean", "var"}
    expected = F.batch_norm(
        torch.from_numpy(activations),
        None,
        None,
        torch.full((3,), 2.0),
        torch.zeros(3),
        training=True,
    )
    np.testing.assert_allclose(archive["output"], expected.numpy(), atol=1e-5)


def test_backward_matches_autograd(client: FlaskClient, activations: np.ndarray) -> None:
    grad = np.random.default_rng(1).normal(size=activations.shape).astype(np.float32)
    weight = np.array([1.0, 2.0, 0.5], np.float32)
    body = client.post(
        "/v1/normalize/batch/backward",
        json={
            "input": activations.tolist(),
            "grad_output": grad.tolist(),
            "weight": weight.tolist(),
            "bias": [0, 0, 0],
        },
    ).json
    x = torch.from_numpy(activations).requires_grad_()
    w = torch.from_numpy(weight).requires_grad_()
    b = torch.zeros(3, requires_grad=True)
    F.batch_norm(x, None, None, w, b, training=True).backward(torch.from_numpy(grad))
    np.testing.assert_allclose(body["grad_input"], x.grad.numpy(), atol=1e-4)
    np.testing.assert_allclose(body["grad_weight"], w.grad.numpy(), atol=1e-4)
    np.testing.assert_allclose(body["grad_bias"], b.grad.numpy(), atol=1e-4)


def test_compare_runs_every_variant(client: FlaskClient, activations: np.ndarray) -> None:
    body = client.post("/v1/normalize/compare", json={"input": activations.tolist()}).json
    by_variant = {item["variant"]: item for item in body["results"]}
    assert list(by_variant) == ["batch", "layer", "group", "instance", "rms"]
    assert by_variant["batch"]["reduced_axes"] == [0, 2]
    assert by_variant["instance"]["reduced_axes"] == [2]
    assert by_variant["layer"]["reduced_axes"] == [2]
    assert body["shape"] == [4, 3, 5]


def test_compare_explains_what_does_not_apply(client: FlaskClient) -> None:
    body = client.post("/v1/normalize/compare", json={"input": [1.0, 2.0, 3.0]}).json
    by_variant = {item["variant"]: item for item in body["results"]}
    assert "error" in by_variant["batch"]
    assert by_variant["batch"]["error"]["detail"]
    assert "output" in by_variant["layer"]


def test_variants_lists_axes_for_a_rank(client: FlaskClient) -> None:
    body = client.get("/v1/normalize/variants?ndim=4").json
    axes = {item["name"]: item["reduced_axes"] for item in body["items"]}
    assert axes == {
        "batch": [0, 2, 3],
        "layer": [3],
        "group": [1, 2, 3],
        "instance": [2, 3],
        "rms": [3],
    }
    batch = body["items"][0]
    assert "momentum" in batch["parameters"]
    assert "training" in batch["parameters"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"input": [[1, 2], [3]]}, "input"),
        ({"input": [[1, "a"]]}, "input"),
        ({"input": []}, "input"),
        ({"input": [[1, 2]], "weight": [1, 2, 3]}, "weight"),
        ({"input": [[1, 2]], "eps": -1}, "eps"),
        ({"input": [[1, 2]], "num_groups": 2}, "num_groups"),
        ({"input": [[1, 2]], "colour": "red"}, "colour"),
        ({"weight": [1]}, "input"),
        ({"input": [[1, 2]], "normalized_shape": [3]}, "normalized_shape"),
    ],
)
def test_bad_input_names_the_field(client: FlaskClient, body: dict, field: str) -> None:
    response = client.post("/v1/normalize/layer", json=body)
    assert response.status_code == 422, response.json
    assert response.content_type == "application/problem+json"
    assert field in response.json["errors"]


def test_single_value_per_channel_in_training_gives_torchs_reason(client: FlaskClient) -> None:
    response = client.post("/v1/normalize/batch", json={"input": [[1.0, 2.0, 3.0]]})
    assert response.status_code == 422
    assert "Expected more than 1 value per channel when training" in response.json["detail"]


def test_constant_group_with_zero_eps_is_refused(client: FlaskClient) -> None:
    response = client.post("/v1/normalize/layer", json={"input": [[2.0, 2.0]], "eps": 0})
    assert response.status_code == 422
    assert "NaN" not in response.get_data(as_text=True)


def test_unknown_variant_is_404(client: FlaskClient) -> None:
    assert client.post("/v1/normalize/weight", json={"input": [1]}).status_code == 404


def test_too_deep_nesting_names_the_limit(client: FlaskClient) -> None:
    deep: object = [1.0]
    for _ in range(12):
        deep = [deep]
    response = client.post("/v1/normalize/layer", json={"input": deep})
    assert response.status_code == 422
    assert "max_depth" in response.json["errors"]["input"][0]


def test_float64_npy_beyond_float32_is_a_clear_422_without_warnings(client: FlaskClient) -> None:
    """A float64 .npy asked for in float32 (the default): 1.7e308 becomes infinity in the cast,
    which numpy reported as a RuntimeWarning in the log before the refusal."""
    body = npy(np.array([[1.0, 1.7e308, 0.0]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning in the request is a 500 here
        response = client.post("/v1/normalize/layer", data=body, content_type=NPY)
    assert response.status_code == 422
    assert response.json["detail"] == (
        "element [0][1] is infinity (or too large for float32); only finite numbers are accepted"
    )


def test_pickled_npy_is_refused(client: FlaskClient) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    response = client.post("/v1/normalize/layer", data=buffer.getvalue(), content_type=NPY)
    assert response.status_code == 422
    assert "input" in response.json["errors"]


def test_malformed_npy_and_npz_are_422(client: FlaskClient) -> None:
    assert (
        client.post("/v1/normalize/layer", data=b"\x93NUMPY garbage", content_type=NPY).status_code
        == 422
    )
    stream = io.BytesIO()
    with zipfile.ZipFile(stream, "w") as archive:
        archive.writestr("evil.npy", b"not an array")
    assert (
        client.post("/v1/normalize/layer", data=stream.getvalue(), content_type=NPZ).status_code
        == 422
    )


def test_wrong_content_type_is_415_and_unacceptable_accept_is_406(client: FlaskClient) -> None:
    assert (
        client.post("/v1/normalize/layer", data="1,2", content_type="text/csv").status_code == 415
    )
    response = client.post(
        "/v1/normalize/layer", json={"input": [[1, 2]]}, headers={"Accept": "text/html"}
    )
    assert response.status_code == 406
