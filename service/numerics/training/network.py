"""The trained network: parameters in one flat vector, its forward pass and hand-written backward.

Layers l = 1 … L are hidden, L + 1 is the output. With h₀ = x (B, features):

    hidden l:  a_l = h_{l-1} @ W_l + b_l            W_l (fan_in, fan_out), b_l (fan_out,);
                                                    no b_l before batch norm (ParameterLayout)
               z_l = norm(a_l)·γ_l + β_l            (or z_l = a_l without normalization)
               noisy_batch only: z_l ← z_l·s_l + m_l, the step's noise (fan_out,) each
               h_l = φ(z_l)                         z_l is "the input of the nonlinearity"
    output:    logits = h_L @ W_{L+1} + b_{L+1}
    loss:      mean over rows of logsumexp(logits) - logits[y]   (torch's cross_entropy)

Every parameter is a view into one float64 vector, in layer order (W, b, γ, β per layer, γ and
β only where the layer normalizes; rms has γ only), so the optimizer updates all of them with a
few vector operations and a gradient at mixed parameters (Santurkar's G′) is one copy away.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from service.numerics.activations import FloatArray, activation_derivative, apply_activation
from service.numerics.training import kernels
from service.numerics.training.norms import NormCache, RunningStats, normalize, normalize_backward


@dataclass(frozen=True)
class Architecture:
    """widths = (features, *hidden, classes); variant is a spec.VARIANTS name."""

    widths: tuple[int, ...]
    activation: str
    negative_slope: float
    variant: str
    eps: float
    momentum: float
    groups: int

    @property
    def hidden_layers(self) -> int:
        return len(self.widths) - 2

    @property
    def norm_kind(self) -> str | None:
        """The normalization of the hidden layers: None, "batch", "layer", "group" or "rms"."""
        if self.variant == "none":
            return None
        return "batch" if self.variant == "noisy_batch" else self.variant


@dataclass
class LayerParams:
    """Views of one layer's parameters (or of their gradients) in the flat vector."""

    weight: FloatArray
    bias: FloatArray | None = None
    scale: FloatArray | None = None
    shift: FloatArray | None = None


class ParameterLayout:
    """Where each parameter lives in the flat vector: `entries[l]` lists layer l's (name, shape)
    in order, `starts[l]` is its first index.

    A hidden layer followed by batch norm has no bias: batch norm subtracts each unit's batch
    mean, so the bias would cancel exactly and its gradient would be rounding noise (which Adam
    scales up to steps of size lr). As in the batch normalization paper, β takes its place.
    """

    def __init__(self, architecture: Architecture) -> None:
        kind = architecture.norm_kind
        self.entries: list[list[tuple[str, tuple[int, ...]]]] = []
        self.starts: list[int] = []
        offset = 0
        widths = architecture.widths
        for index in range(len(widths) - 1):
            fan_in, fan_out = widths[index], widths[index + 1]
            hidden = index < architecture.hidden_layers
            entries: list[tuple[str, tuple[int, ...]]] = [("weight", (fan_in, fan_out))]
            if not (hidden and kind == "batch"):
                entries.append(("bias", (fan_out,)))
            if hidden and kind is not None:
                entries.append(("scale", (fan_out,)))
                if kind != "rms":
                    entries.append(("shift", (fan_out,)))
            self.starts.append(offset)
            offset += sum(math.prod(shape) for _, shape in entries)
            self.entries.append(entries)
        self.size = offset

    def views(self, flat: FloatArray) -> list[LayerParams]:
        layers = []
        for start, entries in zip(self.starts, self.entries, strict=True):
            arrays: dict[str, FloatArray] = {}
            offset = start
            for name, shape in entries:
                size = math.prod(shape)
                arrays[name] = flat[offset : offset + size].reshape(shape)
                offset += size
            layers.append(LayerParams(**arrays))
        return layers


@dataclass
class LayerTrace:
    """What one hidden layer's forward keeps: its input, z, h = φ(z) and the norm cache."""

    inputs: FloatArray
    z: FloatArray
    out: FloatArray
    norm: NormCache | None = None
    noise_scale: FloatArray | None = None


@dataclass
class Trace:
    layers: list[LayerTrace]
    logits: FloatArray


Noise = tuple[FloatArray, FloatArray]  # (scale s, shift m), (width,) each


def activate(
    architecture: Architecture, z: FloatArray, bias: FloatArray | None = None
) -> FloatArray:
    """φ(z), with z ← z + bias first (in place) when a bias is given: sigmoid by kernels.sigmoid
    (as torch computes it, to within 3 ulp), the other functions from
    service.numerics.activations."""
    if architecture.activation == "sigmoid":
        out = np.empty_like(z)
        kernels.sigmoid(z, _NO_BIAS if bias is None else bias, out)
        return out
    if bias is not None:
        z += bias
    return apply_activation(architecture.activation, z, architecture.negative_slope)


_NO_BIAS = np.empty(0)


def sigmoid_reference(z: FloatArray) -> FloatArray:
    """1/(1 + e^(-z)) in numpy, as torch computes it (e^(-z) = inf gives exactly 0)."""
    out = np.negative(z)
    with np.errstate(over="ignore"):
        np.exp(out, out=out)
    out += 1.0
    return np.reciprocal(out, out=out)


def activation_gradient(architecture: Architecture, trace: LayerTrace) -> FloatArray:
    """φ'(z); from the output for sigmoid (h(1 - h)) and tanh (1 - h²), as torch's autograd."""
    h = trace.out
    if architecture.activation == "sigmoid":
        return h * (1.0 - h)
    if architecture.activation == "tanh":
        return 1.0 - h * h
    return activation_derivative(architecture.activation, trace.z, architecture.negative_slope)


def activation_backward(
    architecture: Architecture, trace: LayerTrace, grad_h: FloatArray
) -> FloatArray:
    """∂loss/∂z = ∂loss/∂h · φ'(z): for sigmoid g·h(1 - h) in one pass (kernels.sigmoid_backward),
    otherwise through activation_gradient."""
    if architecture.activation == "sigmoid":
        grad_z = np.empty_like(grad_h)
        kernels.sigmoid_backward(grad_h, trace.out, grad_z)
        return grad_z
    return grad_h * activation_gradient(architecture, trace)


def _evaluation_batch_norm(
    h: FloatArray, layer: LayerParams, running: RunningStats, eps: float
) -> FloatArray:
    """z of a batch-normalized layer in evaluation mode. With running statistics batch norm is
    affine per unit, so it is folded into the product: z = h @ (W·f) + (β - μ·f) with
    f = γ/√(σ² + eps), one pass over z instead of four (equal up to rounding)."""
    assert layer.scale is not None
    assert layer.shift is not None
    factor = layer.scale / np.sqrt(running.var + eps)
    z = h @ (layer.weight * factor)
    z += layer.shift - running.mean * factor
    return z


def forward(
    architecture: Architecture,
    params: list[LayerParams],
    x: FloatArray,
    *,
    training: bool,
    running: list[RunningStats] | None = None,
    noise: list[Noise] | None = None,
) -> Trace:
    """The forward pass of x (B, features). training: normalize with the batch's statistics
    (batch norm also updates `running` when given) and apply `noise` (noisy_batch); otherwise
    batch norm uses `running` and no noise is applied."""
    kind = architecture.norm_kind
    layers = []
    h = x
    for index in range(architecture.hidden_layers):
        layer = params[index]
        cache = None
        noise_scale = None
        if kind == "batch" and not training:
            assert running is not None
            z = _evaluation_batch_norm(h, layer, running[index], architecture.eps)
            layers.append(LayerTrace(h, z, activate(architecture, z)))
            h = layers[-1].out
            continue
        a = h @ layer.weight
        if kind is None:  # z = a + b, added by `activate`
            layers.append(LayerTrace(h, a, activate(architecture, a, layer.bias)))
            h = layers[-1].out
            continue
        if layer.bias is not None:
            a += layer.bias
        assert layer.scale is not None
        z, cache = normalize(
            kind,
            a,
            layer.scale,
            layer.shift,
            eps=architecture.eps,
            groups=architecture.groups,
            training=training,
            running=None if running is None else running[index],
            momentum=architecture.momentum,
        )
        if noise is not None and training:
            noise_scale, noise_shift = noise[index]
            z *= noise_scale
            z += noise_shift
        trace = LayerTrace(h, z, activate(architecture, z), cache, noise_scale)
        layers.append(trace)
        h = trace.out
    output = params[-1]
    logits = h @ output.weight
    assert output.bias is not None
    logits += output.bias
    return Trace(layers, logits)


def _log_normalizer(logits: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(logits - max, exp(logits - max), Σ exp): the shifted softmax's pieces, per row."""
    with np.errstate(over="ignore", invalid="ignore"):
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        return shifted, exp, exp.sum(axis=1)


def mean_cross_entropy(logits: FloatArray, labels: np.ndarray) -> float:
    """mean_i logsumexp(logits_i) - logits_i[y_i] (torch's cross_entropy); may be non-finite."""
    shifted, _, sums = _log_normalizer(logits)
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.mean(np.log(sums) - shifted[np.arange(len(labels)), labels]))


def cross_entropy(logits: FloatArray, labels: np.ndarray) -> tuple[float, FloatArray]:
    """(mean loss, ∂loss/∂logits), fused (kernels.cross_entropy); may be non-finite."""
    grad = np.empty_like(logits)
    return kernels.cross_entropy(logits, labels, grad), grad


def cross_entropy_reference(logits: FloatArray, labels: np.ndarray) -> tuple[float, FloatArray]:
    """(mean loss, ∂loss/∂logits) in numpy; the gradient is (softmax - one_hot(y)) / B."""
    rows = np.arange(logits.shape[0])
    shifted, exp, sums = _log_normalizer(logits)
    with np.errstate(invalid="ignore", divide="ignore"):
        loss = float(np.mean(np.log(sums) - shifted[rows, labels]))
        exp /= sums[:, None]
    exp[rows, labels] -= 1.0
    exp /= logits.shape[0]
    return loss, exp


def accuracy(logits: FloatArray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def backward(
    architecture: Architecture,
    params: list[LayerParams],
    trace: Trace,
    grad_logits: FloatArray,
    grads: list[LayerParams],
    *,
    lowest_layer: int = 1,
    lowest_weight_only: bool = False,
) -> None:
    """Write ∂loss/∂(every parameter of layers lowest_layer … L + 1) into `grads` (views of
    the flat gradient); layers below lowest_layer are left as they are. lowest_weight_only:
    of the weight and bias gradients, make only lowest_layer's (all that G′ needs)."""
    kind = architecture.norm_kind
    hidden = architecture.hidden_layers
    if not lowest_weight_only:
        np.matmul(trace.layers[-1].out.T, grad_logits, out=grads[-1].weight)
        np.sum(grad_logits, axis=0, out=grads[-1].bias)
    grad_h = grad_logits @ params[-1].weight.T
    for index in range(hidden - 1, lowest_layer - 2, -1):
        layer, grad, cache = params[index], grads[index], trace.layers[index]
        grad_z = activation_backward(architecture, cache, grad_h)
        if kind is None:
            grad_a = grad_z
        else:
            assert layer.scale is not None
            assert grad.scale is not None
            assert cache.norm is not None
            if cache.noise_scale is not None:
                grad_z *= cache.noise_scale
            grad_a = normalize_backward(
                kind,
                grad_z,
                cache.norm,
                layer.scale,
                grad.scale,
                grad.shift,
                groups=architecture.groups,
            )
        if not lowest_weight_only or index == lowest_layer - 1:
            np.matmul(cache.inputs.T, grad_a, out=grad.weight)
            if grad.bias is not None:
                np.sum(grad_a, axis=0, out=grad.bias)
        if index >= lowest_layer:
            grad_h = grad_a @ layer.weight.T
