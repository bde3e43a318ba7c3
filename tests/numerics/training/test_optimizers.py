"""SGD and Adam over the flat vector against torch.optim fed the same gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from service.numerics.training.optimizers import Optimizer
from service.numerics.training.spec import build_optimizer_spec

CASES = [
    {"name": "sgd", "learning_rate": 0.3},
    {"name": "sgd", "learning_rate": 0.1, "momentum": 0.9},
    {"name": "sgd", "learning_rate": 0.1, "momentum": 0.5, "weight_decay": 0.01},
    {"name": "adam", "learning_rate": 0.01},
    {
        "name": "adam",
        "learning_rate": 0.003,
        "betas": [0.8, 0.99],
        "eps": 1e-6,
        "weight_decay": 0.1,
    },
    # β₁ = 0.3: torch's lerp takes its other branch (weight 1 - β₁ >= 0.5).
    {"name": "adam", "learning_rate": 0.01, "betas": [0.3, 0.9]},
]


def _torch_optimizer(options: dict[str, object], param: torch.Tensor) -> torch.optim.Optimizer:
    spec = build_optimizer_spec(options)
    if spec.name == "sgd":
        return torch.optim.SGD(
            [param], lr=spec.learning_rate, momentum=spec.momentum, weight_decay=spec.weight_decay
        )
    return torch.optim.Adam(
        [param], lr=spec.learning_rate, betas=spec.betas, eps=spec.eps,
        weight_decay=spec.weight_decay,
    )  # fmt: skip


@pytest.mark.parametrize("options", CASES, ids=lambda o: "-".join(f"{v}" for v in o.values()))
def test_updates_equal_torch_optim_over_many_steps(options: dict[str, object]) -> None:
    rng = np.random.default_rng(7)
    start = rng.standard_normal(50)
    ours = start.copy()
    optimizer = Optimizer(build_optimizer_spec(options), ours.size)
    theirs = torch.nn.Parameter(torch.from_numpy(start.copy()))
    reference = _torch_optimizer(options, theirs)
    for _ in range(200):
        gradient = rng.standard_normal(50) * rng.uniform(1e-3, 10.0)
        kept = gradient.copy()
        optimizer.step(ours, gradient)
        np.testing.assert_array_equal(gradient, kept)  # the gradient is left as it was
        theirs.grad = torch.from_numpy(gradient.copy())
        reference.step()
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-13, atol=1e-13)
    assert not np.allclose(ours, start)
