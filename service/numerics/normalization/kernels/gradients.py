"""The backward kernel: the gradients of Σ output·grad_output, a tile of groups at a time (see the
package's docstring for the layout), computed in float64 and written in the input's dtype.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from service.numerics.normalization.kernels.options import HELPER, KERNEL
from service.numerics.normalization.kernels.statistics import tile_size, tile_statistics


@njit(**HELPER)
def _run_sums(
    view: np.ndarray, grad: np.ndarray, shift: float, offset: float, rstd: float
) -> tuple[float, float, float]:
    """(Σg, Σg·x̂, Σ|g|) over a run, x̂ = (x - mean)·rstd."""
    sum_g = 0.0
    sum_gx = 0.0
    sum_abs = 0.0
    for k in range(view.size):
        g = float(grad[k])
        sum_g += g
        sum_gx += g * (((view[k] - shift) - offset) * rstd)
        sum_abs += abs(g)
    return sum_g, sum_gx, sum_abs


@njit(**HELPER)
def _elementwise_sums(
    view: np.ndarray,
    grad: np.ndarray,
    shift: float,
    offset: float,
    rstd: float,
    weight: np.ndarray,
    grad_weight: np.ndarray,
    grad_bias: np.ndarray,
) -> tuple[float, float, float]:
    """(Σĝ, Σĝ·x̂, Σ|g|) over a row with one parameter per element, ĝ = g·weight; adds g·x̂
    and g into grad_weight and grad_bias."""
    sum_g = 0.0
    sum_gx = 0.0
    sum_abs = 0.0
    for k in range(view.size):
        g = float(grad[k])
        x_hat = ((view[k] - shift) - offset) * rstd
        grad_weight[k] += g * x_hat
        grad_bias[k] += g
        sum_g += g * weight[k]
        sum_gx += g * weight[k] * x_hat
        sum_abs += abs(g)
    return sum_g, sum_gx, sum_abs


@njit(**HELPER)
def _gradient_sums(
    x: np.ndarray,
    g: np.ndarray,
    b: int,
    shift: float,
    offset: float,
    rstd: float,
    weight: np.ndarray,
    segment: int,
    runs: int,
    base: int,
    grad_weight: np.ndarray,
    grad_bias: np.ndarray,
) -> tuple[float, float, float]:
    """(Σĝ, Σĝ·x̂, Σ|g|) over group b, ĝ = g·weight_p, x̂ = (x - mean)·rstd; adds Σg·x̂ and Σg
    per parameter into grad_weight and grad_bias."""
    sum_g = 0.0
    sum_gx = 0.0
    sum_abs = 0.0
    for a in range(x.shape[0]):
        if segment == 1:
            params = slice(base, base + runs)
            s1, s2, s3 = _elementwise_sums(
                x[a, b],
                g[a, b],
                shift,
                offset,
                rstd,
                weight[params],
                grad_weight[params],
                grad_bias[params],
            )
            sum_g += s1
            sum_gx += s2
            sum_abs += s3
            continue
        for j in range(runs):
            run = slice(j * segment, (j + 1) * segment)
            p = base + j
            run_g, run_gx, run_abs = _run_sums(x[a, b, run], g[a, b, run], shift, offset, rstd)
            grad_weight[p] += run_gx
            grad_bias[p] += run_g
            sum_g += run_g * weight[p]
            sum_gx += run_gx * weight[p]
            sum_abs += run_abs
    return sum_g, sum_gx, sum_abs


@njit(**HELPER)
def _elementwise_gradient(
    view: np.ndarray,
    grad: np.ndarray,
    shift: float,
    offset: float,
    rstd: float,
    weight: np.ndarray,
    mean_g: float,
    mean_gx: float,
    out: np.ndarray,
) -> None:
    """out = rstd·(g·weight - mean_g - x̂·mean_gx), one weight per element."""
    for k in range(view.size):
        x_hat = ((view[k] - shift) - offset) * rstd
        out[k] = rstd * (grad[k] * weight[k] - mean_g - x_hat * mean_gx)


@njit(**HELPER)
def _run_gradient(
    view: np.ndarray,
    grad: np.ndarray,
    shift: float,
    offset: float,
    rstd: float,
    weight: float,
    mean_g: float,
    mean_gx: float,
    out: np.ndarray,
) -> None:
    """out = rstd·(g·weight - mean_g - x̂·mean_gx), one weight for the run."""
    for k in range(view.size):
        x_hat = ((view[k] - shift) - offset) * rstd
        out[k] = rstd * (grad[k] * weight - mean_g - x_hat * mean_gx)


@njit(**HELPER)
def _input_gradient(
    x: np.ndarray,
    g: np.ndarray,
    b: int,
    shift: float,
    offset: float,
    rstd: float,
    weight: np.ndarray,
    segment: int,
    runs: int,
    base: int,
    mean_g: float,
    mean_gx: float,
    out: np.ndarray,
) -> None:
    """out[:, b, :] = rstd·(ĝ - mean_g - x̂·mean_gx)."""
    for a in range(x.shape[0]):
        if segment == 1:
            w = weight[base : base + runs]
            _elementwise_gradient(
                x[a, b], g[a, b], shift, offset, rstd, w, mean_g, mean_gx, out[a, b]
            )
            continue
        for j in range(runs):
            run = slice(j * segment, (j + 1) * segment)
            w = weight[base + j]
            _run_gradient(
                x[a, b, run], g[a, b, run], shift, offset, rstd, w, mean_g, mean_gx, out[a, b, run]
            )


@njit(**KERNEL)
def _backward_groups(
    x: np.ndarray,
    g: np.ndarray,
    first: int,
    last: int,
    weight: np.ndarray,
    segment: int,
    period: int,
    given_mean: np.ndarray,
    given_var: np.ndarray,
    center: bool,
    eps: float,
    limit: float,
    grad_input: np.ndarray,
    grad_weight: np.ndarray,
    grad_bias: np.ndarray,
    mean_out: np.ndarray,
    var_out: np.ndarray,
    summary: np.ndarray,
) -> None:
    """Groups first..last-1 of `backward`, a tile of groups at a time (see
    `outputs._forward_groups`); grad_weight, grad_bias and summary: this chunk's own rows."""
    count = x.shape[0] * x.shape[2]
    fixed = given_mean.size > 0
    runs = x.shape[2] // segment
    size = tile_size(x)
    tile = np.empty((size, 3))
    phase = first % period
    suspects = 0
    largest = 0.0
    for start in range(first, last, size):
        stop = min(start + size, last)
        suspects += tile_statistics(
            x,
            start,
            stop,
            period,
            given_mean,
            given_var,
            center,
            eps,
            limit,
            tile,
            mean_out,
            var_out,
        )
        for i in range(stop - start):
            b = start + i
            shift, offset, rstd = tile[i, 0], tile[i, 1], tile[i, 2]
            base = phase * runs
            sum_g, sum_gx, sum_abs = _gradient_sums(
                x, g, b, shift, offset, rstd, weight, segment, runs, base, grad_weight, grad_bias
            )
            largest = max(largest, rstd * sum_abs)
            mean_g = 0.0 if fixed or not center else sum_g / count
            mean_gx = 0.0 if fixed else sum_gx / count
            _input_gradient(
                x,
                g,
                b,
                shift,
                offset,
                rstd,
                weight,
                segment,
                runs,
                base,
                mean_g,
                mean_gx,
                grad_input,
            )
            phase = 0 if phase + 1 == period else phase + 1
    summary[0] = suspects
    summary[1] = largest


@njit(parallel=True, **KERNEL)
def backward(
    x: np.ndarray,
    g: np.ndarray,
    weight: np.ndarray,
    segment: int,
    period: int,
    given_mean: np.ndarray,
    given_var: np.ndarray,
    center: bool,
    eps: float,
    limit: float,
    grad_input: np.ndarray,
    grad_weight: np.ndarray,
    grad_bias: np.ndarray,
    mean_out: np.ndarray,
    var_out: np.ndarray,
    summary: np.ndarray,
) -> None:
    """Gradients of Σ out·g for every group of x (A, B, K), g of the same shape.

    Batch statistics (given_mean empty): grad_input = rstd·(ĝ - mean(ĝ) - x̂·mean(ĝ·x̂)), without
    mean(ĝ) for rms; given statistics: grad_input = rstd·ĝ. grad_weight / grad_bias: (T, P)
    float64 or wider (columns past P are not used), zeroed; chunk t of the B groups adds Σg·x̂
    and Σg per parameter into row t (the caller sums the rows), so that no two threads write
    one element (the caller pads the rows so that none share a cache line either); NaN or
    infinity in x or g shows in them. summary: (T, 2) receives per chunk the number of suspect
    statistics (see `forward`; limit as there) and the largest rstd·Σ|g| of a group.
    """
    groups = x.shape[1]
    chunks = grad_weight.shape[0]
    per_chunk = (groups + chunks - 1) // chunks
    for t in prange(chunks):
        first = min(t * per_chunk, groups)
        last = min(first + per_chunk, groups)
        _backward_groups(
            x,
            g,
            first,
            last,
            weight,
            segment,
            period,
            given_mean,
            given_var,
            center,
            eps,
            limit,
            grad_input,
            grad_weight[t],
            grad_bias[t],
            mean_out,
            var_out,
            summary[t],
        )
