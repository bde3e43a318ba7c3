"""Normalization requests: turn decoded fields into arrays (with the service's limits), call the
numerics, and add the statistics that explain the result."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from service.numerics import normalization as norm
from service.numerics.arrays import array_from_nested, check_finite, float_dtype
from service.numerics.errors import CostLimitExceeded, NumericsError

ARRAY_FIELDS = ("weight", "bias", "running_mean", "running_var")
MAX_ARRAY_ELEMENTS = "MAX_ARRAY_ELEMENTS"  # the setting behind ArrayLimits.max_elements

VARIANT_INFO: dict[str, dict[str, str]] = {
    "batch": {
        "description": "Per channel, pooled over the batch and spatial positions; running "
        "statistics for evaluation.",
        "statistics": "per channel over (N, *spatial)",
        "torch_equivalent": "torch.nn.functional.batch_norm",
    },
    "layer": {
        "description": "Per example, over the trailing normalized_shape dimensions.",
        "statistics": "per example over the last len(normalized_shape) dimensions",
        "torch_equivalent": "torch.nn.functional.layer_norm",
    },
    "group": {
        "description": "Per example and group of channels, over the group's channels and "
        "spatial positions.",
        "statistics": "per (example, group) over (C/G, *spatial)",
        "torch_equivalent": "torch.nn.functional.group_norm",
    },
    "instance": {
        "description": "Per example and channel, over spatial positions only.",
        "statistics": "per (example, channel) over *spatial",
        "torch_equivalent": "torch.nn.functional.instance_norm",
    },
    "rms": {
        "description": "Divides by the root mean square over the trailing dimensions; no "
        "mean is subtracted.",
        "statistics": "per example over the last len(normalized_shape) dimensions",
        "torch_equivalent": "torch.nn.functional.rms_norm",
    },
}


@dataclass(frozen=True)
class ArrayLimits:
    max_elements: int  # MAX_ARRAY_ELEMENTS
    max_depth: int  # MAX_ARRAY_DEPTH
    max_compare_elements: int | None = None  # MAX_COMPARE_ELEMENTS


def to_array(value: Any, field: str, dtype: str, limits: ArrayLimits) -> np.ndarray:
    """A submitted array: a nested JSON list, or an ndarray decoded from .npy/.npz."""
    if isinstance(value, np.ndarray):
        if value.size > limits.max_elements:
            raise CostLimitExceeded(
                f"has {value.size} elements, more than the limit MAX_ARRAY_ELEMENTS = "
                f"{limits.max_elements}",
                field=field,
                limit_name=MAX_ARRAY_ELEMENTS,
                limit=limits.max_elements,
                cost=value.size,
            )
        with np.errstate(over="ignore"):  # beyond the dtype becomes infinity: refused next
            array = value.astype(float_dtype(dtype), copy=False)
        check_finite(array, field)
        return array
    try:
        return array_from_nested(
            value,
            field=field,
            dtype=dtype,
            max_elements=limits.max_elements,
            max_depth=limits.max_depth,
        )
    except CostLimitExceeded as exc:
        raise exc.renamed(MAX_ARRAY_ELEMENTS) from None


def _input(fields: Mapping[str, Any], dtype: str, limits: ArrayLimits) -> np.ndarray:
    """The `input` array: at least one dimension (every variant normalizes along one)."""
    x = to_array(fields["input"], "input", dtype, limits)
    if x.ndim == 0:
        raise NumericsError(
            "input must have at least one dimension; got a 0-d array (a scalar)", "input"
        )
    return x


def _numerics_params(
    variant: str, fields: Mapping[str, Any], x: np.ndarray, limits: ArrayLimits
) -> dict[str, Any]:
    """Map API field names to the numerics' keyword arguments (refusing foreign ones)."""
    dtype = fields.get("dtype", "float32")
    params: dict[str, Any] = {"dtype": dtype}
    for name, value in fields.items():
        if name in ("input", "grad_output", "dtype") or (value is None and name in ARRAY_FIELDS):
            continue
        if name in ARRAY_FIELDS:
            params[name] = to_array(value, name, dtype, limits)
        elif name == "training":
            params["use_input_stats" if variant == "instance" else "training"] = value
        elif name == "eps" and value is None and variant != "rms":
            raise NumericsError("null is only allowed for rms (machine epsilon)", "eps")
        else:
            params[name] = value
    if variant in ("layer", "rms") and "normalized_shape" not in params:
        params["normalized_shape"] = (x.shape[-1],)
    return params


def _stats(array: np.ndarray) -> dict[str, float]:
    """Mean, std (ddof 0), min and max of a finite array, in float64. Near float64's largest
    values Σx or Σ(x - mean)² overflows: then mean and std come from x / max|x|, scaled back."""
    low, high = float(array.min()), float(array.max())
    with np.errstate(over="ignore", invalid="ignore"):
        mean, std = float(array.mean(dtype=np.float64)), float(array.std(dtype=np.float64))
    if not (math.isfinite(mean) and math.isfinite(std)):
        scale = max(-low, high)
        scaled = array / scale
        mean, std = scale * float(scaled.mean()), scale * float(scaled.std())
    return {"mean": mean, "std": std, "min": low, "max": high}


def normalize(
    variant: str, fields: Mapping[str, Any], limits: ArrayLimits, *, summary: bool = True
) -> dict[str, Any]:
    """Forward pass of `variant` on `fields["input"]` with the variant's parameters.

    summary=False leaves out "summary" (input and output statistics), for answers that do not
    carry it (.npy, .npz)."""
    dtype = fields.get("dtype", "float32")
    x = _input(fields, dtype, limits)
    result = norm.normalize(variant, x, **_numerics_params(variant, fields, x, limits))
    payload: dict[str, Any] = {
        "variant": variant,
        "output": result.output,
        "mean": result.mean,
        "var": result.var,
        "running_mean": result.running_mean,
        "running_var": result.running_var,
        "num_batches_tracked": result.num_batches_tracked,
        "reduced_axes": list(result.reduced_axes),
        "eps": result.eps,
        "shape": list(x.shape),
        "dtype": str(result.output.dtype),
    }
    if summary:
        payload["summary"] = {"input": _stats(x), "output": _stats(result.output)}
    return payload


def backward(variant: str, fields: Mapping[str, Any], limits: ArrayLimits) -> dict[str, Any]:
    """Gradients of sum(output · grad_output) for the input, weight and bias."""
    dtype = fields.get("dtype", "float32")
    x = _input(fields, dtype, limits)
    if fields.get("grad_output") is None:
        raise NumericsError(
            "the backward pass needs grad_output, the gradient of the loss with respect to "
            "the output (an array of the input's shape; in an .npz, a member named grad_output)",
            "grad_output",
        )
    grad_output = to_array(fields["grad_output"], "grad_output", dtype, limits)
    if grad_output.shape != x.shape:
        raise NumericsError(
            f"has shape {grad_output.shape}, but the input has shape {x.shape}", "grad_output"
        )
    gradients = norm.normalize_backward(
        variant, x, grad_output, **_numerics_params(variant, fields, x, limits)
    )
    return {
        "variant": variant,
        "grad_input": gradients.grad_input,
        "grad_weight": gradients.grad_weight,
        "grad_bias": gradients.grad_bias,
        "shape": list(x.shape),
        "dtype": str(gradients.grad_input.dtype),
    }


def _default_groups(channels: int) -> int:
    """The largest divisor of C up to C/2 (so that groups differ from instance norm)."""
    for groups in range(max(channels // 2, 1), 0, -1):
        if channels % groups == 0:
            return groups
    return 1


def compare(fields: Mapping[str, Any], limits: ArrayLimits) -> dict[str, Any]:
    """One input through every variant, with the reason where a variant does not apply."""
    dtype = fields.get("dtype", "float32")
    eps = fields.get("eps", 1e-5)
    x = _input(fields, dtype, limits)
    if limits.max_compare_elements is not None and x.size > limits.max_compare_elements:
        # Five outputs and their JSON (about 11 bytes a number each): 4M elements answered
        # 223 MB with 630 MB of memory.
        raise CostLimitExceeded(
            f"comparing {x.size:,} elements answers every variant's output (five times the "
            f"input); the limit is {limits.max_compare_elements:,} (MAX_COMPARE_ELEMENTS). "
            "Normalize larger arrays one variant at a time, or send fewer elements",
            field="input",
            limit_name="MAX_COMPARE_ELEMENTS",
            limit=limits.max_compare_elements,
            cost=x.size,
        )
    results: list[dict[str, Any]] = []
    for variant in norm.VARIANTS:
        params: dict[str, Any] = {"dtype": dtype, "eps": eps}
        if variant in ("layer", "rms"):
            params["normalized_shape"] = (x.shape[-1],)
        if variant == "group" and x.ndim >= 2:
            params["num_groups"] = fields.get("num_groups") or _default_groups(x.shape[1])
        try:
            result = norm.normalize(variant, x, **params)
        except NumericsError as exc:
            results.append(
                {"variant": variant, "error": {"title": "Not applicable", "detail": str(exc)}}
            )
            continue
        results.append(
            {
                "variant": variant,
                "reduced_axes": list(result.reduced_axes),
                "output": result.output,
                "mean": result.mean,
                "var": result.var,
                "summary": {"input": _stats(x), "output": _stats(result.output)},
            }
        )
    return {"shape": list(x.shape), "input": _stats(x), "results": results}


def variants(ndim: int, normalized_ndim: int) -> dict[str, Any]:
    """Each variant: what it normalizes over, the axes for rank `ndim`, its parameters."""
    items = []
    for variant in norm.VARIANTS:
        try:
            axes: list[int] | None = list(
                norm.reduced_axes(variant, ndim, min(normalized_ndim, ndim))
            )
        except NumericsError:
            axes = None
        parameters = [
            "training" if name == "use_input_stats" else name
            for name in norm.parameters(variant)
            if name != "dtype"
        ]
        items.append(
            {
                "name": variant,
                **VARIANT_INFO[variant],
                "min_ndim": norm.MIN_NDIM[variant],
                "reduced_axes": axes,
                "parameters": [*parameters, "dtype"],
            }
        )
    return {"ndim": ndim, "items": items}
