"""Simulation payloads. JSON bodies use strict fields; the GET form reads the same fields from
the query string (so a simulation can be a link)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from webargs.fields import DelimitedList

from service.fields import StrictBoolean, StrictFloat, StrictInteger
from service.numerics.activations import ACTIVATIONS
from service.numerics.initializers import INIT_SCHEMES, MAX_GAIN

MODES = ("analytic", "monte_carlo")
NORMALIZATIONS = ("batch", "layer", "rms")


def _propagation_fields(strict: bool) -> dict[str, ma.fields.Field[Any]]:
    number = StrictFloat if strict else ma.fields.Float
    integer = StrictInteger if strict else ma.fields.Integer
    boolean = StrictBoolean if strict else ma.fields.Boolean
    widths: ma.fields.Field[Any] = (
        ma.fields.List(integer(validate=ma.validate.Range(min=1)))
        if strict
        else DelimitedList(ma.fields.Integer(validate=ma.validate.Range(min=1)))
    )
    return {
        "mode": ma.fields.String(load_default="analytic", validate=ma.validate.OneOf(MODES)),
        "depth": integer(
            required=True, validate=ma.validate.Range(min=1), metadata={"example": 10}
        ),
        "width": integer(
            validate=ma.validate.Range(min=1),
            metadata={"description": "Every layer's width (fan-in)", "example": 100},
        ),
        "widths": widths,
        "weight_variance": number(
            validate=ma.validate.Range(min=0),
            metadata={"description": "Var(W) for every layer (or give init)", "example": 1.0},
        ),
        "init": ma.fields.String(validate=ma.validate.OneOf(INIT_SCHEMES)),
        "gain": number(
            validate=ma.validate.Range(min=0, min_inclusive=False, max=MAX_GAIN),
            metadata={"description": "With init; default: calculate_gain(activation)"},
        ),
        "input_variance": number(load_default=1.0, validate=ma.validate.Range(min=0)),
        "bias_variance": number(load_default=0.0, validate=ma.validate.Range(min=0)),
        "activation": ma.fields.String(
            load_default="linear", validate=ma.validate.OneOf(ACTIVATIONS)
        ),
        "negative_slope": number(load_default=0.01),
        "normalization": ma.fields.String(
            allow_none=True, load_default=None, validate=ma.validate.OneOf(NORMALIZATIONS)
        ),
        "backward": boolean(load_default=False),
        "batch_size": integer(
            load_default=256,
            validate=ma.validate.Range(min=2),
            metadata={"description": "Monte Carlo: inputs pushed through the network"},
        ),
        "seed": integer(
            load_default=0,
            validate=ma.validate.Range(min=0, max=2**63 - 1),
            metadata={"description": "Monte Carlo: same seed, byte-identical result"},
        ),
        "histogram_bins": integer(
            load_default=40,
            validate=ma.validate.Range(min=1, max=1000),
            metadata={"description": "Monte Carlo: bins of each layer's histogram"},
        ),
        "histogram_range": ma.fields.List(
            number(),
            validate=ma.validate.Length(equal=2),
            metadata={"description": "Monte Carlo: [low, high] of the fixed histogram edges"},
        )
        if strict
        else DelimitedList(ma.fields.Float(), validate=ma.validate.Length(equal=2)),
    }


PropagationBodySchema = ma.Schema.from_dict(
    _propagation_fields(strict=True), name="PropagationRequest"
)
PropagationQuerySchema = ma.Schema.from_dict(
    _propagation_fields(strict=False), name="PropagationQuery"
)


class HistogramSchema(ma.Schema):
    edges = ma.fields.List(ma.fields.Float(), required=True)
    counts = ma.fields.List(ma.fields.Integer(), required=True)
    below_range = ma.fields.Integer(required=True)
    above_range = ma.fields.Integer(required=True)


def _nullable_float(description: str) -> ma.fields.Float:
    return ma.fields.Float(allow_none=True, required=True, metadata={"description": description})


class LayerSchema(ma.Schema):
    index = ma.fields.Integer(required=True)
    width = ma.fields.Integer(required=True)
    weight_variance = ma.fields.Float(required=True)
    preactivation_variance = _nullable_float("Var(z_l); null where it overflows a double")
    log10_preactivation_variance = _nullable_float("log10 Var(z_l); null when it is 0")
    variance = _nullable_float("Var(h_l), the layer's output")
    log10_variance = _nullable_float("log10 Var(h_l)")
    mean = _nullable_float("E[h_l]")
    grad_variance = ma.fields.Float(
        allow_none=True, metadata={"description": "Var(∂loss/∂h_{l-1}) (backward)"}
    )
    log10_grad_variance = ma.fields.Float(allow_none=True)
    std = ma.fields.Float(allow_none=True, metadata={"description": "Monte Carlo"})
    min = ma.fields.Float(allow_none=True, metadata={"description": "Monte Carlo"})
    max = ma.fields.Float(allow_none=True, metadata={"description": "Monte Carlo"})
    zero_fraction = ma.fields.Float(allow_none=True, metadata={"description": "Monte Carlo, relu"})
    saturated_fraction = ma.fields.Float(
        allow_none=True, metadata={"description": "Monte Carlo, tanh and sigmoid"}
    )
    sampled_weight_variance = ma.fields.Float(allow_none=True)
    histogram = ma.fields.Nested(HistogramSchema, metadata={"description": "Monte Carlo"})


class PropagationResultSchema(ma.Schema):
    mode = ma.fields.String(required=True)
    depth = ma.fields.Integer(required=True)
    widths = ma.fields.List(ma.fields.Integer(), required=True)
    activation = ma.fields.String(required=True)
    init = ma.fields.String(allow_none=True, required=True)
    gain = ma.fields.Float(allow_none=True, required=True)
    normalization = ma.fields.String(allow_none=True, required=True)
    input_variance = ma.fields.Float(required=True)
    layers = ma.fields.List(ma.fields.Nested(LayerSchema), required=True)
    final_variance = _nullable_float("The last layer's output variance (null on overflow)")
    log10_final_variance = _nullable_float("log10 of final_variance")
    regime = ma.fields.String(
        required=True, metadata={"enum": ["exploding", "stable", "vanishing"]}
    )
    gain_per_layer = _nullable_float("(final_variance / input_variance)^(1/depth)")
    log10_gain_per_layer = _nullable_float("log10 of gain_per_layer")
    batch_size = ma.fields.Integer(allow_none=True)
    seed = ma.fields.Integer(allow_none=True)


class InitSchemeSchema(ma.Schema):
    name = ma.fields.String(required=True)
    distribution = ma.fields.String(required=True)
    formula = ma.fields.String(required=True, metadata={"description": "Var(W) in words"})
    sampling = ma.fields.String(required=True)
    default_gain = ma.fields.String(required=True)
    torch_equivalent = ma.fields.String(required=True)


class GainSchema(ma.Schema):
    activation = ma.fields.String(required=True)
    gain = ma.fields.Float(required=True)
    source = ma.fields.String(required=True)


class InitSchemesArgsSchema(ma.Schema):
    negative_slope = ma.fields.Float(load_default=0.01)


class InitSchemesSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(InitSchemeSchema), required=True)
    gains = ma.fields.List(ma.fields.Nested(GainSchema), required=True)
    negative_slope = ma.fields.Float(required=True)


class MeanFieldRequestSchema(ma.Schema):
    activation = ma.fields.String(required=True, validate=ma.validate.OneOf(ACTIVATIONS))
    sigma_w2 = StrictFloat(
        required=True,
        validate=ma.validate.Range(min=0),
        metadata={"description": "n · Var(W)", "example": 2.0},
    )
    sigma_b2 = StrictFloat(load_default=0.0, validate=ma.validate.Range(min=0))
    negative_slope = StrictFloat(load_default=0.01)


class MeanFieldSchema(ma.Schema):
    activation = ma.fields.String(required=True)
    sigma_w2 = ma.fields.Float(required=True)
    sigma_b2 = ma.fields.Float(required=True)
    q_star = _nullable_float("Fixed point of q = σ_w²·E[φ(√q z)²] + σ_b² (null: infinite)")
    fixed_point = ma.fields.String(
        required=True, metadata={"enum": ["finite", "zero", "infinite", "neutral"]}
    )
    chi = ma.fields.Float(required=True, metadata={"description": "σ_w²·E[φ'(√q* z)²]"})
    phase = ma.fields.String(required=True, metadata={"enum": ["ordered", "critical", "chaotic"]})
    depth_scale = _nullable_float("−1/ln χ (null when χ = 1)")
    critical_sigma_w2 = _nullable_float("σ_w² with χ = 1 at this σ_b²")


class MeanFieldGridRequestSchema(ma.Schema):
    activation = ma.fields.String(required=True, validate=ma.validate.OneOf(ACTIVATIONS))
    sigma_w2 = ma.fields.List(
        StrictFloat(validate=ma.validate.Range(min=0)),
        required=True,
        validate=ma.validate.Length(1, 200),
    )
    sigma_b2 = ma.fields.List(
        StrictFloat(validate=ma.validate.Range(min=0)),
        required=True,
        validate=ma.validate.Length(1, 200),
    )
    negative_slope = StrictFloat(load_default=0.01)


class MeanFieldGridSchema(ma.Schema):
    activation = ma.fields.String(required=True)
    sigma_w2 = ma.fields.List(ma.fields.Float(), required=True)
    sigma_b2 = ma.fields.List(ma.fields.Float(), required=True)
    q_star = ma.fields.List(ma.fields.List(ma.fields.Float(allow_none=True)), required=True)
    fixed_point = ma.fields.List(ma.fields.List(ma.fields.String()), required=True)
    chi = ma.fields.List(ma.fields.List(ma.fields.Float()), required=True)
    phase = ma.fields.List(ma.fields.List(ma.fields.String()), required=True)
    depth_scale = ma.fields.List(ma.fields.List(ma.fields.Float(allow_none=True)), required=True)
    critical_sigma_w2 = ma.fields.List(ma.fields.Float(allow_none=True), required=True)
