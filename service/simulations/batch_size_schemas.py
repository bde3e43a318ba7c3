"""Payloads of the batch-size simulations: the noise of batch statistics (batch-statistics), train
versus evaluation mode (batch-norm-modes) and training across batch sizes (batch-size-sweep).

Request fields are typed here (strict JSON numbers); their ranges are checked once by the
numerics' spec builders, whose errors name the field."""

from __future__ import annotations

import marshmallow as ma

from service.fields import StrictFloat, StrictInteger
from service.numerics.batch_statistics import VARIANTS


class BatchStatisticsRequestSchema(ma.Schema):
    variant = ma.fields.String(
        load_default="batch",
        validate=ma.validate.OneOf(VARIANTS),
        metadata={"description": "The normalization whose statistics are measured"},
    )
    batch_sizes = ma.fields.List(
        StrictInteger(),
        required=True,
        metadata={"description": "Batch sizes m (batch norm: m >= 2)", "example": [2, 4, 8]},
    )
    z = StrictFloat(
        load_default=1.0,
        metadata={"description": "The fixed example's standardized value (|z| <= 10)"},
    )
    features = StrictInteger(
        load_default=16, metadata={"description": "Channels C: independent draws per batch"}
    )
    samples = StrictInteger(
        load_default=20_000, metadata={"description": "Random batch compositions per m"}
    )
    seed = StrictInteger(load_default=0, metadata={"description": "Same seed, same numbers"})
    eps = StrictFloat(load_default=1e-5, metadata={"description": "Added to the variance"})
    groups = StrictInteger(
        load_default=None, allow_none=True, metadata={"description": "group only (default ≤ 32)"}
    )
    spatial_size = StrictInteger(
        load_default=None,
        allow_none=True,
        metadata={"description": "instance only: positions per channel (default 4)"},
    )


def _nullable(description: str) -> ma.fields.Float:
    return ma.fields.Float(allow_none=True, required=True, metadata={"description": description})


class BatchStatisticsPointSchema(ma.Schema):
    batch_size = ma.fields.Integer(required=True)
    measured_variance = ma.fields.Float(
        required=True, metadata={"description": "Monte Carlo: variance of the example's x̂"}
    )
    standard_error = ma.fields.Float(
        required=True, metadata={"description": "Standard error of measured_variance"}
    )
    first_order_variance = ma.fields.Float(
        required=True, metadata={"description": "Theory to first order: (1 + z²/2)/m (batch)"}
    )
    exact_variance = _nullable("Exact theory for this m (quadrature); null if unavailable")
    exact_unavailable_reason = ma.fields.String(allow_none=True, required=True)
    deviation_in_standard_errors = _nullable(
        "(measured - exact) / standard_error: within ±2 about 95% of the time"
    )
    measured_mean = ma.fields.Float(required=True)
    exact_mean = ma.fields.Float(allow_none=True, required=True)
    draws = ma.fields.Integer(required=True, metadata={"description": "Values measured"})
    smallest_abs_value = ma.fields.Float(required=True)
    largest_abs_value = ma.fields.Float(required=True)
    max_abs_change = ma.fields.Float(
        required=True, metadata={"description": "Largest change of x̂ between compositions"}
    )
    notes = ma.fields.List(ma.fields.String(), required=True)


class BatchStatisticsSchema(ma.Schema):
    variant = ma.fields.String(required=True)
    batch_sizes = ma.fields.List(ma.fields.Integer(), required=True)
    z = ma.fields.Float(required=True)
    features = ma.fields.Integer(required=True)
    samples = ma.fields.Integer(required=True)
    seed = ma.fields.Integer(required=True)
    eps = ma.fields.Float(required=True)
    groups = ma.fields.Integer(allow_none=True, required=True)
    spatial_size = ma.fields.Integer(required=True)
    cost = ma.fields.Integer(required=True, metadata={"description": "Values drawn and normalized"})
    points = ma.fields.List(ma.fields.Nested(BatchStatisticsPointSchema), required=True)
    methods = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.String(),
        required=True,
        metadata={"description": "Which number is which: measured, first order or exact"},
    )
    batch_size_two = ma.fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "batch: what batch norm does to a batch of two"},
    )
    independent_of_batch = ma.fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "group, layer, instance, rms: why the spread is exactly 0"},
    )
    notes = ma.fields.List(ma.fields.String(), required=True)
