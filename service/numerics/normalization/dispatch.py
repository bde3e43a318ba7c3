"""One entry point per direction: normalize(variant, x, **params) and normalize_backward(...),
computed by the fused kernels (`fused`); the numpy reference (`forward`, `backward`) takes the
same arguments.

Also the table of which input axes each variant reduces over.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, Final

from numpy.typing import ArrayLike

from service.numerics.errors import NumericsError
from service.numerics.normalization import fused
from service.numerics.normalization._core import Gradients, NormalizationResult
from service.numerics.normalization.calls import CALLS, Call

VARIANTS: Final = ("batch", "layer", "group", "instance", "rms")
# The smallest input rank each variant accepts (instance: 2 only without input statistics).
MIN_NDIM: Final[Mapping[str, int]] = {
    "batch": 2,
    "layer": 1,
    "group": 2,
    "instance": 2,
    "rms": 1,
}


def _variant(variant: object) -> str:
    if variant not in VARIANTS:
        raise NumericsError(f"must be one of {', '.join(VARIANTS)}; got {variant!r}", "variant")
    return str(variant)


def parameters(variant: str) -> tuple[str, ...]:
    """The keyword parameters `normalize(variant, x, ...)` accepts, in signature order."""
    signature = inspect.signature(CALLS[_variant(variant)])
    return tuple(name for name in signature.parameters if name != "x")


@functools.cache
def _keywords(function: Callable[..., Any]) -> tuple[frozenset[str], tuple[str, ...]]:
    """(accepted, required) keyword parameters of a variant function, besides the arrays."""
    parameters = inspect.signature(function).parameters
    names = [name for name in parameters if name not in {"x", "grad_output"}]
    required = tuple(n for n in names if parameters[n].default is inspect.Parameter.empty)
    return frozenset(names), required


def call(variant: str, x: ArrayLike, **params: Any) -> Call:
    """The validated call of `variant` with that variant's keyword parameters."""
    name = _variant(variant)
    function = CALLS[name]
    accepted, required = _keywords(function)
    for key in params:
        if key not in accepted:
            raise NumericsError(f"is not a parameter of {name} normalization", key)
    for key in required:
        if key not in params:
            raise NumericsError(f"is required for {name} normalization", key)
    return function(x, **params)


def normalize(variant: str, x: ArrayLike, **params: Any) -> NormalizationResult:
    """Forward pass of `variant` (one of VARIANTS) with that variant's keyword parameters."""
    return fused.forward(call(variant, x, **params))


def normalize_backward(
    variant: str, x: ArrayLike, grad_output: ArrayLike, **params: Any
) -> Gradients:
    """(grad_input, grad_weight | None, grad_bias | None) for `variant`, same parameters."""
    return fused.backward(call(variant, x, **params), grad_output)


def reduced_axes(
    variant: str, ndim: int, normalized_shape_len: int | None = None
) -> tuple[int, ...]:
    """The input axes a variant's statistics reduce over, for an input of rank `ndim`.

    batch: 0 and the spatial axes 2..; instance: the spatial axes; group: 1 (within each group
    of channels) and the spatial axes; layer and rms: the last normalized_shape_len axes.
    """
    name = _variant(variant)
    if isinstance(ndim, bool) or not isinstance(ndim, int) or ndim < MIN_NDIM[name]:
        raise NumericsError(
            f"{name} normalization needs an input of rank >= {MIN_NDIM[name]}, got {ndim!r}",
            "ndim",
        )
    if name == "batch":
        return (0, *range(2, ndim))
    if name == "instance":
        return tuple(range(2, ndim))
    if name == "group":
        return tuple(range(1, ndim))
    if (
        isinstance(normalized_shape_len, bool)
        or not isinstance(normalized_shape_len, int)
        or not 1 <= normalized_shape_len <= ndim
    ):
        raise NumericsError(
            f"must be an integer in [1, {ndim}] for {name} normalization, "
            f"got {normalized_shape_len!r}",
            "normalized_shape",
        )
    return tuple(range(ndim - normalized_shape_len, ndim))
