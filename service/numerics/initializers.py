"""Weight initializers: fan-in / fan-out variance rules, torch-style gains, and samplers.

A layer's weight matrix has shape (fan_out, fan_in), as torch.nn.Linear.weight, and computes
z = W h. Every scheme draws zero-mean weights; its variance is

    lecun_*    gain² / fan_in                      (gain defaults to 1: the scheme is 1/fan_in)
    he_*       gain² / fan_in                      (gain defaults to calculate_gain(activation),
                                                    as torch.nn.init.kaiming_*_(mode="fan_in"))
    xavier_*   gain² · 2 / (fan_in + fan_out)      (gain defaults to calculate_gain(activation))
    orthogonal gain² / max(fan_in, fan_out)        (rows or columns orthonormal, times gain)

*_normal draws N(0, variance); *_uniform draws U(-a, a) with a = √(3 · variance).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from service.numerics.activations import ACTIVATIONS, FloatArray, check_activation
from service.numerics.errors import NumericsError
from service.numerics.validation import check_scalar

INIT_SCHEMES: Final = (
    "lecun_normal",
    "lecun_uniform",
    "xavier_normal",
    "xavier_uniform",
    "he_normal",
    "he_uniform",
    "orthogonal",
)

# gelu is absent from torch.nn.init.calculate_gain. We use the gain that keeps the second moment
# through one layer for unit-variance inputs, 1/√E[gelu(z)²] with E[gelu(z)²] = 1/3 + 1/(2π√3);
# the same rule gives torch's √2 for relu and 1 for linear.
GELU_GAIN: Final = 1.0 / math.sqrt(1.0 / 3.0 + 1.0 / (2.0 * math.pi * math.sqrt(3.0)))

_DISTRIBUTIONS: Final = {
    "lecun_normal": "normal",
    "lecun_uniform": "uniform",
    "xavier_normal": "normal",
    "xavier_uniform": "uniform",
    "he_normal": "normal",
    "he_uniform": "uniform",
    "orthogonal": "orthogonal",
}


@dataclass(frozen=True)
class InitScheme:
    """One row of the scheme table: how the scheme sets Var(W) and draws the weights."""

    name: str
    distribution: str  # "normal", "uniform" or "orthogonal"
    variance_formula: str
    sampling: str
    default_gain: str
    torch_equivalent: str


@dataclass(frozen=True)
class ActivationGain:
    """calculate_gain for one activation, and where the number comes from."""

    activation: str
    gain: float
    source: str


@dataclass(frozen=True)
class InitSchemeTable:
    """Every scheme and every activation's gain (leaky_relu evaluated at `negative_slope`)."""

    schemes: tuple[InitScheme, ...]
    gains: tuple[ActivationGain, ...]
    negative_slope: float


def calculate_gain(activation: str, negative_slope: float = 0.01) -> float:
    """torch.nn.init.calculate_gain for our activations (gelu: see GELU_GAIN)."""
    check_activation(activation, negative_slope)
    if activation == "tanh":
        return 5.0 / 3.0
    if activation == "relu":
        return math.sqrt(2.0)
    if activation == "leaky_relu":
        return math.sqrt(2.0 / (1.0 + negative_slope * negative_slope))
    if activation == "selu":
        return 3.0 / 4.0
    if activation == "gelu":
        return GELU_GAIN
    return 1.0  # linear, sigmoid


def check_scheme(scheme: str) -> None:
    """Raise NumericsError(field="init") unless `scheme` is one of INIT_SCHEMES."""
    if scheme not in INIT_SCHEMES:
        raise NumericsError(
            f"unknown init {scheme!r}; expected one of {', '.join(INIT_SCHEMES)}", field="init"
        )


def scheme_distribution(scheme: str) -> str:
    """ "normal", "uniform" or "orthogonal"."""
    check_scheme(scheme)
    return _DISTRIBUTIONS[scheme]


def default_gain(scheme: str, activation: str, negative_slope: float = 0.01) -> float:
    """The gain a scheme uses when none is given: 1 for LeCun, calculate_gain otherwise."""
    check_scheme(scheme)
    if scheme.startswith("lecun"):
        check_activation(activation, negative_slope)
        return 1.0
    return calculate_gain(activation, negative_slope)


def _check_fans(fan_in: int, fan_out: int) -> None:
    for name, value in (("fan_in", fan_in), ("fan_out", fan_out)):
        check_scalar(value, name, int, min_val=1)


# gain² must stay a finite double with room for the division by the fan: gain ≤ 1e150.
MAX_GAIN = 1e150


def _check_gain(gain: float) -> None:
    check_scalar(gain, "gain", float, min_val=0.0, max_val=MAX_GAIN, include_boundaries="right")


def weight_variance(scheme: str, fan_in: int, fan_out: int, gain: float) -> float:
    """Var(W) of the scheme for a (fan_out, fan_in) matrix; see the module docstring."""
    check_scheme(scheme)
    _check_fans(fan_in, fan_out)
    _check_gain(gain)
    gain2 = float(gain) * float(gain)
    if scheme.startswith(("lecun", "he")):
        return gain2 / fan_in
    if scheme.startswith("xavier"):
        return 2.0 * gain2 / (fan_in + fan_out)
    return gain2 / max(fan_in, fan_out)


def sample_weights(
    scheme: str,
    fan_in: int,
    fan_out: int,
    gain: float,
    rng: np.random.Generator,
    *,
    out: FloatArray | None = None,
) -> FloatArray:
    """Draw a (fan_out, fan_in) float64 weight matrix; `out` (C-contiguous) avoids an allocation.

    orthogonal follows torch.nn.init.orthogonal_: QR of a Gaussian matrix with the signs of R's
    diagonal folded into Q, transposed when fan_out < fan_in, times gain.
    """
    variance = weight_variance(scheme, fan_in, fan_out, gain)
    if out is None:
        out = np.empty((fan_out, fan_in), dtype=np.float64)
    elif out.shape != (fan_out, fan_in) or out.dtype != np.float64:
        raise ValueError("out must be a float64 array of shape (fan_out, fan_in)")
    distribution = _DISTRIBUTIONS[scheme]
    if distribution == "normal":
        rng.standard_normal(out=out)
        out *= math.sqrt(variance)
    elif distribution == "uniform":
        bound = math.sqrt(3.0 * variance)
        rng.random(out=out)
        out *= 2.0 * bound
        out -= bound
    else:
        rows, cols = max(fan_out, fan_in), min(fan_out, fan_in)
        q, r = np.linalg.qr(rng.standard_normal((rows, cols)))
        q *= np.sign(np.diagonal(r))
        out[...] = q if fan_out >= fan_in else q.T
        out *= float(gain)
    return out


def init_scheme_table(negative_slope: float = 0.01) -> InitSchemeTable:
    """The formulas of every scheme and calculate_gain for every activation."""
    check_activation("leaky_relu", negative_slope)
    from_activation = "calculate_gain(activation)"
    schemes = (
        InitScheme("lecun_normal", "normal", "gain² / fan_in", "N(0, Var)", "1",
                   "torch.nn.init.kaiming_normal_(w, nonlinearity='linear') for gain 1"),
        InitScheme("lecun_uniform", "uniform", "gain² / fan_in", "U(-√(3 Var), √(3 Var))", "1",
                   "torch.nn.init.kaiming_uniform_(w, nonlinearity='linear') for gain 1"),
        InitScheme("xavier_normal", "normal", "gain² · 2 / (fan_in + fan_out)", "N(0, Var)",
                   from_activation, "torch.nn.init.xavier_normal_(w, gain)"),
        InitScheme("xavier_uniform", "uniform", "gain² · 2 / (fan_in + fan_out)",
                   "U(-√(3 Var), √(3 Var))", from_activation,
                   "torch.nn.init.xavier_uniform_(w, gain)"),
        InitScheme("he_normal", "normal", "gain² / fan_in", "N(0, Var)", from_activation,
                   "torch.nn.init.kaiming_normal_(w, mode='fan_in', nonlinearity=activation)"),
        InitScheme("he_uniform", "uniform", "gain² / fan_in", "U(-√(3 Var), √(3 Var))",
                   from_activation,
                   "torch.nn.init.kaiming_uniform_(w, mode='fan_in', nonlinearity=activation)"),
        InitScheme("orthogonal", "orthogonal", "gain² / max(fan_in, fan_out)",
                   "gain · Q, Q with orthonormal rows or columns from the QR of a Gaussian matrix",
                   from_activation, "torch.nn.init.orthogonal_(w, gain)"),
    )  # fmt: skip
    sources = {
        "gelu": "not in torch's table: 1/√E[gelu(z)²], z ~ N(0, 1), which keeps the second moment",
        "leaky_relu": "torch: √(2 / (1 + negative_slope²))",
    }
    gains = tuple(
        ActivationGain(name, calculate_gain(name, negative_slope), sources.get(name, "torch"))
        for name in ACTIVATIONS
    )
    return InitSchemeTable(schemes=schemes, gains=gains, negative_slope=float(negative_slope))
