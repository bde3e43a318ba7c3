"""Normalization payloads. Arrays travel as nested JSON lists (converted by
service.numerics.arrays, which checks shape, raggedness, limits and finiteness) or as .npy/.npz."""

from __future__ import annotations

import marshmallow as ma
from webargs.fields import DelimitedList

ARRAY_DOC = {"type": "array", "description": "Nested list of numbers (any rank)"}
# allow_none=True makes apispec add "null" to the type itself.
NULLABLE_ARRAY_DOC = {"type": "array", "description": "Nested list of numbers"}


def statistic_doc(description: str = "Nested list of numbers, or a number") -> dict[str, object]:
    """A statistic reduced over every axis (layer norm of a 1-d input) is 0-d: a bare number.
    (A fresh list each time, so that the YAML document holds no anchors.)"""
    return {"type": ["array", "number"], "description": description}


class NormalizeParamsSchema(ma.Schema):
    """Scalar parameters: in the JSON body, or in the query string for .npy/.npz bodies."""

    eps = ma.fields.Float(
        allow_none=True,
        validate=ma.validate.Range(min=0, max=1e3),
        metadata={
            "description": "Added to the variance inside the square root (rms: null = "
            "machine epsilon of dtype). Default 1e-5."
        },
    )
    normalized_shape = ma.fields.Raw(
        metadata={
            "type": ["integer", "array"],
            "description": "layer, rms: trailing shape normalized over (default: last dimension)",
        }
    )
    num_groups = ma.fields.Integer(
        validate=ma.validate.Range(min=1), metadata={"description": "group: groups of channels"}
    )
    training = ma.fields.Boolean(
        metadata={"description": "batch, instance: use batch statistics (default true)"}
    )
    momentum = ma.fields.Float(
        allow_none=True,
        validate=ma.validate.Range(min=0, max=1),
        metadata={"description": "Running-stat update factor (null: cumulative average)"},
    )
    num_batches_tracked = ma.fields.Integer(
        # torch's int64 counter, which a training call increments
        validate=ma.validate.Range(min=0, max=2**63 - 2),
        metadata={"description": "batch: batches seen so far (for momentum null)"},
    )
    dtype = ma.fields.String(
        validate=ma.validate.OneOf(["float32", "float64"]),
        metadata={"description": "Computation dtype (default float32)"},
    )


class NormalizeQuerySchema(NormalizeParamsSchema):
    class Meta:
        unknown = ma.RAISE

    normalized_shape = DelimitedList(  # type: ignore[assignment]
        ma.fields.Integer(validate=ma.validate.Range(min=1)),
        metadata={"description": "layer, rms: e.g. 64 or 8,64"},
    )


class NormalizeBodySchema(NormalizeParamsSchema):
    class Meta:
        unknown = ma.RAISE

    input = ma.fields.Raw(required=True, metadata=ARRAY_DOC)
    weight = ma.fields.Raw(allow_none=True, metadata=NULLABLE_ARRAY_DOC)
    bias = ma.fields.Raw(allow_none=True, metadata=NULLABLE_ARRAY_DOC)
    running_mean = ma.fields.Raw(allow_none=True, metadata=NULLABLE_ARRAY_DOC)
    running_var = ma.fields.Raw(allow_none=True, metadata=NULLABLE_ARRAY_DOC)


class BackwardBodySchema(NormalizeBodySchema):
    grad_output = ma.fields.Raw(
        required=True, metadata={**ARRAY_DOC, "description": "∂loss/∂output, the input's shape"}
    )


class StatsSchema(ma.Schema):
    mean = ma.fields.Float(required=True)
    std = ma.fields.Float(required=True)
    min = ma.fields.Float(required=True)
    max = ma.fields.Float(required=True)


class SummarySchema(ma.Schema):
    input = ma.fields.Nested(StatsSchema, required=True)
    output = ma.fields.Nested(StatsSchema, required=True)


class NormalizeResultSchema(ma.Schema):
    variant = ma.fields.String(required=True)
    output = ma.fields.Raw(required=True, metadata=ARRAY_DOC)
    mean = ma.fields.Raw(
        allow_none=True,
        required=True,
        metadata=statistic_doc("Means used (null for rms)"),
    )
    var = ma.fields.Raw(
        required=True,
        metadata=statistic_doc("Biased variances used (rms: mean squares)"),
    )
    running_mean = ma.fields.Raw(allow_none=True, required=True, metadata=NULLABLE_ARRAY_DOC)
    running_var = ma.fields.Raw(allow_none=True, required=True, metadata=NULLABLE_ARRAY_DOC)
    num_batches_tracked = ma.fields.Integer(allow_none=True, required=True)
    reduced_axes = ma.fields.List(ma.fields.Integer(), required=True)
    eps = ma.fields.Float(required=True)
    shape = ma.fields.List(ma.fields.Integer(), required=True)
    dtype = ma.fields.String(required=True)
    summary = ma.fields.Nested(SummarySchema, required=True)


class BackwardResultSchema(ma.Schema):
    variant = ma.fields.String(required=True)
    grad_input = ma.fields.Raw(required=True, metadata=ARRAY_DOC)
    grad_weight = ma.fields.Raw(allow_none=True, required=True, metadata=NULLABLE_ARRAY_DOC)
    grad_bias = ma.fields.Raw(allow_none=True, required=True, metadata=NULLABLE_ARRAY_DOC)
    shape = ma.fields.List(ma.fields.Integer(), required=True)
    dtype = ma.fields.String(required=True)


class CompareBodySchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    input = ma.fields.Raw(required=True, metadata=ARRAY_DOC)
    eps = ma.fields.Float(load_default=1e-5, validate=ma.validate.Range(min=0, max=1e3))
    num_groups = ma.fields.Integer(validate=ma.validate.Range(min=1))
    dtype = ma.fields.String(
        load_default="float32", validate=ma.validate.OneOf(["float32", "float64"])
    )


class CompareErrorSchema(ma.Schema):
    title = ma.fields.String(required=True)
    detail = ma.fields.String(required=True)


class CompareItemSchema(ma.Schema):
    variant = ma.fields.String(required=True)
    reduced_axes = ma.fields.List(ma.fields.Integer())
    output = ma.fields.Raw(metadata=ARRAY_DOC)
    mean = ma.fields.Raw(allow_none=True, metadata=statistic_doc())
    var = ma.fields.Raw(metadata=statistic_doc())
    summary = ma.fields.Nested(SummarySchema)
    error = ma.fields.Nested(CompareErrorSchema, metadata={"description": "Why it does not apply"})


class CompareResultSchema(ma.Schema):
    shape = ma.fields.List(ma.fields.Integer(), required=True)
    input = ma.fields.Nested(StatsSchema, required=True)
    results = ma.fields.List(ma.fields.Nested(CompareItemSchema), required=True)


class VariantsArgsSchema(ma.Schema):
    ndim = ma.fields.Integer(
        load_default=3,
        validate=ma.validate.Range(min=1, max=8),
        metadata={"description": "Input rank to describe the reduced axes for"},
    )
    normalized_ndim = ma.fields.Integer(
        load_default=1,
        validate=ma.validate.Range(min=1, max=8),
        metadata={"description": "layer, rms: len(normalized_shape)"},
    )


class VariantSchema(ma.Schema):
    name = ma.fields.String(required=True)
    description = ma.fields.String(required=True)
    statistics = ma.fields.String(required=True)
    min_ndim = ma.fields.Integer(required=True)
    reduced_axes = ma.fields.List(
        ma.fields.Integer(),
        allow_none=True,
        required=True,
        metadata={"description": "For the requested rank (null when the rank is too small)"},
    )
    parameters = ma.fields.List(ma.fields.String(), required=True)
    torch_equivalent = ma.fields.String(required=True)


class VariantListSchema(ma.Schema):
    ndim = ma.fields.Integer(required=True)
    items = ma.fields.List(ma.fields.Nested(VariantSchema), required=True)
