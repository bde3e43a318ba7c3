"""Batch, layer, group, instance and RMS normalization, forward and backward, in numpy.

Semantics follow torch.nn.functional; see `forward` for the formulas and `backward` for the
gradients. Bad arguments raise NumericsError naming the field; a result that would hold NaN or
infinity raises NonFiniteResult instead.
"""

from service.numerics.normalization._core import Gradients, NormalizationResult
from service.numerics.normalization.backward import (
    batch_norm_backward,
    group_norm_backward,
    instance_norm_backward,
    layer_norm_backward,
    rms_norm_backward,
)
from service.numerics.normalization.dispatch import (
    MIN_NDIM,
    VARIANTS,
    normalize,
    normalize_backward,
    parameters,
    reduced_axes,
)
from service.numerics.normalization.forward import (
    batch_norm,
    group_norm,
    instance_norm,
    layer_norm,
    rms_norm,
)

__all__ = [
    "MIN_NDIM",
    "VARIANTS",
    "Gradients",
    "NormalizationResult",
    "batch_norm",
    "batch_norm_backward",
    "group_norm",
    "group_norm_backward",
    "instance_norm",
    "instance_norm_backward",
    "layer_norm",
    "layer_norm_backward",
    "normalize",
    "normalize_backward",
    "parameters",
    "reduced_axes",
    "rms_norm",
    "rms_norm_backward",
]
