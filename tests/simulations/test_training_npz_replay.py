"""The .npz a client downloads is enough to replay the run elsewhere: PyTorch (float64, torch.nn
modules, torch.optim) trained from its initial parameters on its batch order gives every step's
minibatch loss equal to `batch_loss` within 1e-9 relative (tests/numerics/training holds the
full oracle per normalization and optimizer; this one goes through HTTP)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from flask.testing import FlaskClient

from service.numerics.training import build_training_spec
from tests.numerics.training.conftest import _one_blas_thread  # noqa: F401  (autouse)
from tests.numerics.training.torch_replay import replay

# The numerics oracle's non-chaotic set-up (tests/numerics/training/test_oracle.py): there two
# exact implementations stay within 1e-14 of each other over 300 steps.
REQUEST: dict[str, Any] = {
    "dataset": {"name": "blobs", "samples": 400, "classes": 3, "features": 6},
    "hidden_widths": [16, 16],
    "activation": "tanh",
    "init": "xavier_normal",
    "normalization": "batch",
    "compare": ["none", "layer"],
    "optimizer": {"name": "sgd", "learning_rate": 0.1, "momentum": 0.9, "weight_decay": 1e-3},
    "batch_size": 20,
    "steps": 300,
    "log_every": 50,
    "probe_size": 64,
    "seed": 5,
}


@pytest.mark.parametrize("variant", ["batch", "none", "layer"])
def test_the_npz_replays_in_torch(client: FlaskClient, variant: str) -> None:
    response = client.post(
        "/v1/simulations/training", json=REQUEST, headers={"Accept": "application/x-npz"}
    )
    assert response.status_code == 200
    arrays = dict(np.load(io.BytesIO(response.data), allow_pickle=False))
    torch_losses = replay(build_training_spec(**REQUEST), variant, arrays, statistics=False)
    served = arrays[f"batch_loss_{variant}"]
    assert len(torch_losses.batch_loss) == len(served) == 300
    np.testing.assert_allclose(served, torch_losses.batch_loss, rtol=1e-9, atol=0)
    if variant == "batch":  # the spec's own normalization is also the unprefixed batch_loss
        np.testing.assert_array_equal(arrays["batch_loss"], served)
