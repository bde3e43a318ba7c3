"""Activation functions φ and their derivatives φ', elementwise on float64 arrays of any shape.

Names: linear, relu, leaky_relu (φ(x) = x for x > 0, negative_slope · x otherwise), tanh,
sigmoid, gelu (the exact form x · Φ(x), as torch's default) and selu (torch's constants).
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
from numpy.typing import NDArray

from service.numerics.errors import NumericsError
from service.numerics.validation import check_scalar

FloatArray = NDArray[np.float64]

ACTIVATIONS: Final = ("linear", "relu", "leaky_relu", "tanh", "sigmoid", "gelu", "selu")
# φ(c·x) = c·φ(x) for c > 0: the scale of a signal can be factored out exactly.
HOMOGENEOUS_ACTIVATIONS: Final = frozenset({"linear", "relu", "leaky_relu"})
BOUNDED_ACTIVATIONS: Final = frozenset({"tanh", "sigmoid"})

SELU_ALPHA: Final = 1.6732632423543772848170429916717
SELU_SCALE: Final = 1.0507009873554804934193349852946
MAX_ABS_NEGATIVE_SLOPE: Final = 1e6

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

# Cephes ndtr/erf/erfc rational approximations (relative error ~1e-16 in double precision).
_ERFC_P = (
    2.46196981473530512524e-10,
    5.64189564831068821977e-1,
    7.46321056442269912687e0,
    4.86371970985681366614e1,
    1.96520832956077098242e2,
    5.26445194995477358631e2,
    9.34528527171957607540e2,
    1.02755188689515710272e3,
    5.57535335369399327526e2,
)
_ERFC_Q = (
    1.0,
    1.32281951154744992508e1,
    8.67072140885989742329e1,
    3.54937778887819891062e2,
    9.75708501743205489753e2,
    1.82390916687909736289e3,
    2.24633760818710981792e3,
    1.65666309194161350182e3,
    5.57535340817727675546e2,
)
_ERFC_R = (
    5.64189583547755073984e-1,
    1.27536670759978104416e0,
    5.01905042251180477414e0,
    6.16021097993053585195e0,
    7.40974269950448939160e0,
    2.97886665372100240670e0,
)
_ERFC_S = (
    1.0,
    2.26052863220117276590e0,
    9.39603524938001434673e0,
    1.20489539808096656605e1,
    1.70814450747565897222e1,
    9.60896809063285878198e0,
    3.36907645100081516050e0,
)
_ERF_T = (
    9.60497373987051638749e0,
    9.00260197203842689217e1,
    2.23200534594684319226e3,
    7.00332514112805075473e3,
    5.55923013010394962768e4,
)
_ERF_U = (
    1.0,
    3.35617141647503099647e1,
    5.21357949780152679795e2,
    4.59432382970980127987e3,
    2.26290000613890934246e4,
    4.92673942608635921086e4,
)


def check_activation(activation: str, negative_slope: float = 0.01) -> None:
    """Raise NumericsError unless `activation` is known and `negative_slope` is finite and sane."""
    if activation not in ACTIVATIONS:
        raise NumericsError(
            f"unknown activation {activation!r}; expected one of {', '.join(ACTIVATIONS)}",
            field="activation",
        )
    check_scalar(
        negative_slope,
        "negative_slope",
        float,
        min_val=-MAX_ABS_NEGATIVE_SLOPE,
        max_val=MAX_ABS_NEGATIVE_SLOPE,
    )


def _polevl(x: FloatArray, coefficients: tuple[float, ...]) -> FloatArray:
    result = np.full_like(x, coefficients[0])
    for c in coefficients[1:]:
        result *= x
        result += c
    return result


def _erf_small(x: FloatArray) -> FloatArray:
    """erf(x) for |x| <= 1 (Cephes)."""
    squared = x * x
    return x * _polevl(squared, _ERF_T) / _polevl(squared, _ERF_U)


def _erfc_large(x: FloatArray) -> FloatArray:
    """erfc(x) for x >= 1 (Cephes); exp(-x²) is split so that rounding x² does not leak in."""
    x_high = np.round(x * 128.0) / 128.0
    x_low = x - x_high
    with np.errstate(under="ignore"):
        gaussian = np.exp(-x_high * x_high) * np.exp(-(2.0 * x_high + x_low) * x_low)
    moderate = x < 8.0
    ratio = np.empty_like(x)
    ratio[moderate] = _polevl(x[moderate], _ERFC_P) / _polevl(x[moderate], _ERFC_Q)
    far = ~moderate
    ratio[far] = _polevl(x[far], _ERFC_R) / _polevl(x[far], _ERFC_S)
    return np.asarray(gaussian * ratio, dtype=np.float64)


def normal_cdf(x: FloatArray | float) -> FloatArray:
    """Φ(x), the standard normal distribution function, elementwise (relative error <= 2e-13).

    Each element is evaluated only by the branch of its range (central erf, erfc, or exactly 0 / 1
    beyond |x| = 38.6 where Φ leaves the double range).
    """
    values = np.asarray(x, dtype=np.float64)
    flat = values.reshape(-1)
    scaled = np.abs(flat) * _SQRT_HALF
    result = np.where(flat > 0.0, 1.0, 0.0)
    central = scaled < _SQRT_HALF
    result[central] = 0.5 + 0.5 * _erf_small(flat[central] * _SQRT_HALF)
    shoulder = ~central & (scaled < 1.0)
    tail = (scaled >= 1.0) & (scaled < 27.3)
    upper_tail = np.empty_like(flat)
    upper_tail[shoulder] = 0.5 - 0.5 * _erf_small(scaled[shoulder])
    upper_tail[tail] = 0.5 * _erfc_large(scaled[tail])
    outer = shoulder | tail
    positive = flat > 0.0
    result[outer & positive] = 1.0 - upper_tail[outer & positive]
    result[outer & ~positive] = upper_tail[outer & ~positive]
    return result.reshape(values.shape)


def normal_pdf(x: FloatArray | float) -> FloatArray:
    """The standard normal density p(x) = exp(-x²/2)/√(2π), elementwise."""
    values = np.asarray(x, dtype=np.float64)
    with np.errstate(under="ignore"):
        return np.asarray(_INV_SQRT_2PI * np.exp(-0.5 * values * values), dtype=np.float64)


def apply_activation(
    activation: str,
    x: FloatArray,
    negative_slope: float = 0.01,
    *,
    out: FloatArray | None = None,
) -> FloatArray:
    """φ(x) elementwise; `out` may be `x` itself to work in place (no temporary for relu/linear)."""
    if out is None:
        out = np.empty_like(x)
    if activation == "linear":
        if out is not x:
            np.copyto(out, x)
    elif activation == "relu":
        np.maximum(x, 0.0, out=out)
    elif activation == "leaky_relu":
        negative = x < 0.0
        if out is not x:
            np.copyto(out, x)
        np.multiply(out, negative_slope, out=out, where=negative)
    elif activation == "tanh":
        np.tanh(x, out=out)
    elif activation == "sigmoid":
        # exp(-|x|) never overflows; the two branches keep full relative precision in both tails.
        decay = np.exp(-np.abs(x))
        denominator = 1.0 + decay
        np.copyto(out, np.where(x >= 0.0, 1.0 / denominator, decay / denominator))
    elif activation == "gelu":
        np.multiply(x, normal_cdf(x), out=out)
    elif activation == "selu":
        negative_part = SELU_ALPHA * np.expm1(np.minimum(x, 0.0))
        np.copyto(out, np.where(x > 0.0, x, negative_part))
        out *= SELU_SCALE
    else:
        check_activation(activation, negative_slope)
    return out


def activation_derivative(
    activation: str, x: FloatArray, negative_slope: float = 0.01
) -> FloatArray:
    """φ'(x) elementwise (relu'(0) = 0 and leaky_relu'(0) = negative_slope, as autograd does)."""
    if activation == "linear":
        return np.ones_like(x)
    if activation == "relu":
        return (x > 0.0).astype(np.float64)
    if activation == "leaky_relu":
        return np.where(x > 0.0, 1.0, negative_slope)
    if activation == "tanh":
        # sech²(x) = 4e/(1+e)² with e = exp(-2|x|): exact in the tails where 1 - tanh² cancels.
        decay = np.exp(-2.0 * np.abs(x))
        return np.asarray(4.0 * decay / ((1.0 + decay) * (1.0 + decay)), dtype=np.float64)
    if activation == "sigmoid":
        decay = np.exp(-np.abs(x))
        return np.asarray(decay / ((1.0 + decay) * (1.0 + decay)), dtype=np.float64)
    if activation == "gelu":
        return np.asarray(normal_cdf(x) + x * normal_pdf(x), dtype=np.float64)
    if activation == "selu":
        return np.where(x > 0.0, SELU_SCALE, SELU_SCALE * SELU_ALPHA * np.exp(np.minimum(x, 0.0)))
    check_activation(activation, negative_slope)
    raise AssertionError("unreachable")  # pragma: no cover
