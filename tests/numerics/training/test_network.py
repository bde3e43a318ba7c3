"""One forward and backward of the numpy network against torch autograd on the same modules:
every activation, every normalization, training and evaluation mode."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from service.numerics.activations import ACTIVATIONS
from service.numerics.training import VARIANTS, build_training_spec
from service.numerics.training.network import backward, cross_entropy, forward
from service.numerics.training.run import TrainingRun
from tests.numerics.training.torch_replay import TorchNet, noise_rows


def _spec(activation: str, variant: str):  # type: ignore[no-untyped-def]
    return build_training_spec(
        dataset={"name": "blobs", "samples": 120, "classes": 4, "features": 5},
        hidden_widths=[8, 6],
        activation=activation,
        init="he_normal",
        normalization=variant,
        groups=2,
        batch_size=16,
        steps=3,
        log_every=1,
        seed=11,
    )


def _torch_gradients(model: TorchNet) -> list[np.ndarray]:
    grads = []
    for index, linear in enumerate(model.linears):
        grads.append(linear.weight.grad.numpy().T)
        if linear.bias is not None:
            grads.append(linear.bias.grad.numpy())
        if index < len(model.norms):
            grads += [p.grad.numpy() for p in model.norms[index].parameters()]
    return grads


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_loss_and_every_gradient_equal_torch_autograd(activation: str, variant: str) -> None:
    spec = _spec(activation, variant)
    run = TrainingRun(spec)
    ours = run.variants[0]
    arrays = run.replay_arrays()
    rows = arrays["batch_indices"][0]
    x, y = arrays["x_train"][rows], arrays["y_train"][rows]
    noise = ours.noise(0)
    trace = forward(ours.architecture, ours.params, x, training=True, noise=noise)
    loss, grad_logits = cross_entropy(trace.logits, y)
    backward(ours.architecture, ours.params, trace, grad_logits, ours.grads)

    model = TorchNet(spec, variant, arrays)
    model.train()
    model.noise = (
        noise_rows(arrays, 0, len(spec.hidden_widths)) if variant == "noisy_batch" else None
    )
    expected = F.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
    expected.backward()
    assert loss == pytest.approx(expected.item(), rel=1e-14)
    flat = [np.asarray(g) for layer in ours.grads for g in vars(layer).values() if g is not None]
    for got, want in zip(flat, _torch_gradients(model), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-14)
    for got, z in zip(trace.layers, model.captured, strict=True):
        np.testing.assert_allclose(got.z, z.numpy(), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("variant", ["batch", "noisy_batch", "layer"])
def test_evaluation_mode_uses_running_statistics_and_no_noise_as_torch_eval(variant: str) -> None:
    spec = _spec("tanh", variant)
    run = TrainingRun(spec)
    list(run)  # three training steps move the running statistics
    ours = run.variants[0]
    arrays = run.replay_arrays()
    model = TorchNet(spec, variant, arrays)
    with torch.no_grad():
        for index, norm in enumerate(model.norms):
            for name, tensor in norm.named_parameters():
                source = ours.params[index].scale if name == "weight" else ours.params[index].shift
                tensor.copy_(torch.from_numpy(source))
            if ours.running is not None:
                norm.running_mean.copy_(torch.from_numpy(ours.running[index].mean))
                norm.running_var.copy_(torch.from_numpy(ours.running[index].var))
        for index, linear in enumerate(model.linears):
            linear.weight.copy_(torch.from_numpy(ours.params[index].weight.T))
            if linear.bias is not None:
                linear.bias.copy_(torch.from_numpy(ours.params[index].bias))
    model.eval()
    x = arrays["x_test"]
    logits = forward(ours.architecture, ours.params, x, training=False, running=ours.running).logits
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(logits, expected, rtol=1e-12, atol=1e-14)
    if ours.running is not None:
        assert not np.allclose(ours.running[0].var, 1.0)
