"""The normalization layers of the training network: forward with a cache, backward from it.

The input a is a hidden layer's pre-activation, (B, C) float64. Each kind standardizes a over
its own axis and then applies the learned per-unit scale γ (C,) and shift β (C,):

    batch  statistics per unit over the B rows       (torch.nn.BatchNorm1d(C))
    layer  statistics per row over the C units       (torch.nn.LayerNorm(C))
    group  statistics per row over each of G groups of C/G consecutive units
                                                     (torch.nn.GroupNorm(G, C))
    rms    x̂ = a / √(mean over units of a² + eps), no shift (torch.nn.RMSNorm(C, eps))

    x̂ = (a - mean) / √(var + eps),  var biased (÷ n),  y = x̂·γ + β

Batch norm in training also updates the running statistics as torch does:
running_mean ← (1 - m)·running_mean + m·mean, running_var ← (1 - m)·running_var + m·var·n/(n - 1);
in evaluation it normalizes with them instead. Gradients with ĝ = ∂L/∂y·γ and n values per
statistic:

    ∂L/∂a = rstd·(ĝ - mean(ĝ) - x̂·mean(ĝ·x̂))    (rms: without mean(ĝ); eval batch norm: rstd·ĝ)
    ∂L/∂γ = Σ_rows ∂L/∂y·x̂,   ∂L/∂β = Σ_rows ∂L/∂y

These are the formulas of service.numerics.normalization (tests check one against the other);
this module keeps x̂ and rstd from the forward so the backward does not recompute them, and skips
the argument checks, which the spec did once. `norm_forward` and `norm_backward` are numpy for
every kind; `normalize` and `normalize_backward`, which the network calls, send batch norm with
batch statistics to the fused kernels (kernels.py; the numpy code is their reference).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.numerics.activations import FloatArray
from service.numerics.training import kernels

NORM_KINDS = ("batch", "layer", "group", "rms")


@dataclass
class RunningStats:
    """Batch norm's buffers, (C,) each: torch's running_mean (starts at 0), running_var (1)."""

    mean: FloatArray
    var: FloatArray

    @classmethod
    def fresh(cls, width: int) -> RunningStats:
        return cls(np.zeros(width), np.ones(width))


@dataclass
class NormCache:
    """What the backward needs: x̂ and rstd in the statistics' layout (see _layout)."""

    x_hat: FloatArray
    rstd: FloatArray
    batch_statistics: bool


def _layout(kind: str, a: FloatArray, groups: int) -> tuple[FloatArray, int]:
    """The 2-D view whose `axis` the statistics reduce over."""
    if kind == "batch":
        return a, 0
    if kind == "group":
        rows, width = a.shape
        return a.reshape(rows * groups, width // groups), 1
    return a, 1


def norm_forward(
    kind: str,
    a: FloatArray,
    scale: FloatArray,
    shift: FloatArray | None,
    *,
    eps: float,
    groups: int = 1,
    training: bool = True,
    running: RunningStats | None = None,
    momentum: float = 0.1,
) -> tuple[FloatArray, NormCache]:
    """y = x̂·γ + β for a (B, C); updates `running` in place when training batch norm."""
    if kind == "batch" and not training:
        assert running is not None, "evaluation batch norm needs the running statistics"
        rstd = 1.0 / np.sqrt(running.var + eps)
        x_hat = (a - running.mean) * rstd
        return _affine(x_hat, scale, shift), NormCache(x_hat, rstd, batch_statistics=False)
    view, axis = _layout(kind, a, groups)
    count = view.shape[axis]
    if kind == "rms":
        centred = view
        mean = None
    else:
        mean = view.mean(axis=axis, keepdims=True)
        centred = view - mean
    sum_squares = np.einsum("ij,ij->j" if axis == 0 else "ij,ij->i", centred, centred)
    sum_squares = np.expand_dims(sum_squares, axis)
    rstd = 1.0 / np.sqrt(sum_squares / count + eps)
    x_hat = (centred * rstd).reshape(a.shape)
    if running is not None and kind == "batch":
        assert mean is not None
        running.mean *= 1.0 - momentum
        running.mean += momentum * mean[0]
        running.var *= 1.0 - momentum
        running.var += momentum * (sum_squares[0] / (count - 1))
    return _affine(x_hat, scale, shift), NormCache(x_hat, rstd, batch_statistics=True)


def normalize(
    kind: str,
    a: FloatArray,
    scale: FloatArray,
    shift: FloatArray | None,
    *,
    eps: float,
    groups: int = 1,
    training: bool = True,
    running: RunningStats | None = None,
    momentum: float = 0.1,
) -> tuple[FloatArray, NormCache]:
    """norm_forward, with batch norm in training mode computed by kernels.batch_norm_forward."""
    if kind != "batch" or not training:
        return norm_forward(
            kind, a, scale, shift, eps=eps, groups=groups, training=training,
            running=running, momentum=momentum,
        )  # fmt: skip
    assert shift is not None
    z, x_hat, rstd = np.empty_like(a), np.empty_like(a), np.empty(a.shape[1])
    buffers = (running.mean, running.var) if running is not None else (np.empty(0),) * 2
    kernels.batch_norm_forward(
        a, scale, shift, eps, momentum, *buffers, running is not None, z, x_hat, rstd
    )
    return z, NormCache(x_hat, rstd, batch_statistics=True)


def _affine(x_hat: FloatArray, scale: FloatArray, shift: FloatArray | None) -> FloatArray:
    out = x_hat * scale
    if shift is not None:
        out += shift
    return out


def norm_backward(
    kind: str,
    grad_out: FloatArray,
    cache: NormCache,
    scale: FloatArray,
    grad_scale: FloatArray,
    grad_shift: FloatArray | None,
    *,
    groups: int = 1,
) -> FloatArray:
    """∂L/∂a from ∂L/∂y (B, C); writes ∂L/∂γ and ∂L/∂β into grad_scale and grad_shift."""
    np.einsum("ij,ij->j", grad_out, cache.x_hat, out=grad_scale)
    if grad_shift is not None:
        np.sum(grad_out, axis=0, out=grad_shift)
    g_hat = grad_out * scale
    if not cache.batch_statistics:
        g_hat *= cache.rstd
        return g_hat
    g_view, axis = _layout(kind, g_hat, groups)
    x_view, _ = _layout(kind, cache.x_hat, groups)
    count = g_view.shape[axis]
    projection = np.einsum("ij,ij->j" if axis == 0 else "ij,ij->i", g_view, x_view) / count
    grad_in = g_view - x_view * np.expand_dims(projection, axis)
    if kind != "rms":
        grad_in -= g_view.mean(axis=axis, keepdims=True)
    grad_in *= cache.rstd
    return grad_in.reshape(grad_out.shape)


def normalize_backward(
    kind: str,
    grad_out: FloatArray,
    cache: NormCache,
    scale: FloatArray,
    grad_scale: FloatArray,
    grad_shift: FloatArray | None,
    *,
    groups: int = 1,
) -> FloatArray:
    """norm_backward, with batch norm over batch statistics by kernels.batch_norm_backward."""
    if kind != "batch" or not cache.batch_statistics:
        return norm_backward(kind, grad_out, cache, scale, grad_scale, grad_shift, groups=groups)
    assert grad_shift is not None
    grad_in = np.empty_like(grad_out)
    kernels.batch_norm_backward(
        grad_out, cache.x_hat, cache.rstd.reshape(-1), scale, grad_scale, grad_shift, grad_in
    )
    return grad_in
