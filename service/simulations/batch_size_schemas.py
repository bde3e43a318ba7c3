"""Payloads of the batch-size simulations: the noise of batch statistics (batch-statistics), train
versus evaluation mode (batch-norm-modes) and training across batch sizes (batch-size-sweep).

Request fields are typed here (strict JSON numbers); their ranges are checked once by the
numerics' spec builders, whose errors name the field."""

from __future__ import annotations

import marshmallow as ma

from service.fields import StrictBoolean, StrictFloat, StrictInteger
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


def _training_fields() -> dict[str, ma.fields.Field]:
    """The trainer's options every cell of a grid shares (see POST /v1/simulations/training)."""
    return {
        "dataset": ma.fields.Dict(
            load_default=lambda: {"name": "digits"},
            metadata={"description": "The trainer's data set object (default: UCI digits)"},
        ),
        "hidden_widths": ma.fields.List(
            StrictInteger(), load_default=lambda: [64, 64], metadata={"example": [64, 64]}
        ),
        "activation": ma.fields.String(load_default="relu"),
        "negative_slope": StrictFloat(load_default=0.01),
        "init": ma.fields.String(load_default="he_normal"),
        "weight_variance": StrictFloat(load_default=None, allow_none=True),
        "gain": StrictFloat(load_default=None, allow_none=True),
        "eps": StrictFloat(load_default=1e-5),
        "groups": StrictInteger(
            load_default=8, metadata={"description": "Group norm's G (divides every width)"}
        ),
        "optimizer": ma.fields.Dict(
            load_default=lambda: {"name": "sgd", "learning_rate": 0.1, "momentum": 0.9},
            metadata={"description": "The trainer's optimizer object; learning_rate is lr"},
        ),
        "epochs": StrictInteger(
            load_default=3, metadata={"description": "Passes over the training split per cell"}
        ),
        "seed": StrictInteger(load_default=0),
        "scale_learning_rate": StrictBoolean(
            load_default=False,
            metadata={"description": "lr · batch_size / reference_batch_size (linear scaling)"},
        ),
        "reference_batch_size": StrictInteger(load_default=32),
        "batch_sizes": ma.fields.List(
            StrictInteger(), required=True, metadata={"example": [2, 8, 32]}
        ),
    }


BatchNormModesRequestSchema = ma.Schema.from_dict(
    {
        **_training_fields(),
        "momenta": ma.fields.List(
            StrictFloat(),
            load_default=lambda: [0.1],
            metadata={"description": "Running-statistics momenta (torch's momentum)"},
        ),
    },
    name="BatchNormModesRequest",
)

BatchSizeSweepRequestSchema = ma.Schema.from_dict(
    {
        **_training_fields(),
        "normalizations": ma.fields.List(
            ma.fields.String(),
            load_default=lambda: ["batch", "group", "layer", "none"],
            metadata={"description": "none, batch, layer, group, rms"},
        ),
        "repeats": StrictInteger(
            load_default=1, metadata={"description": "Seeds per cell: seed, seed + 1, …"}
        ),
    },
    name="BatchSizeSweepRequest",
)


class ModeFiguresSchema(ma.Schema):
    mode = ma.fields.String(required=True, metadata={"enum": ["running", "batch", "population"]})
    train_loss = _nullable("Mean cross-entropy on the training split")
    train_accuracy = _nullable("Accuracy on the training split")
    test_loss = _nullable("Mean cross-entropy on the test split")
    test_accuracy = _nullable("Accuracy on the test split")


class LayerMismatchSchema(ma.Schema):
    layer = ma.fields.Integer(required=True)
    running_mean_offset = ma.fields.Float(required=True)
    running_variance_ratio = ma.fields.Float(required=True)
    batch_mean_offset = ma.fields.Float(required=True)
    batch_variance_ratio = ma.fields.Float(required=True)
    normalized_difference = ma.fields.Float(required=True)


class ModesCellSchema(ma.Schema):
    batch_size = ma.fields.Integer(required=True)
    momentum = ma.fields.Float(required=True)
    learning_rate = ma.fields.Float(required=True)
    steps = ma.fields.Integer(required=True)
    diverged_at_step = ma.fields.Integer(allow_none=True, required=True)
    modes = ma.fields.List(ma.fields.Nested(ModeFiguresSchema), required=True)
    accuracy_gap = _nullable("Test accuracy with running statistics minus with batch statistics")
    layers = ma.fields.List(ma.fields.Nested(LayerMismatchSchema), required=True)
    request = ma.fields.Dict(
        required=True, metadata={"description": "The trainer request that re-runs this cell"}
    )


class GridEchoSchema(ma.Schema):
    batch_sizes = ma.fields.List(ma.fields.Integer(), required=True)
    epochs = ma.fields.Integer(required=True)
    seed = ma.fields.Integer(required=True)
    scale_learning_rate = ma.fields.Boolean(required=True)
    reference_batch_size = ma.fields.Integer(required=True)
    cost = ma.fields.Integer(
        required=True, metadata={"description": "Multiply-adds of all runs (MAX_SWEEP_COST)"}
    )
    methods = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(), required=True)
    notes = ma.fields.List(ma.fields.String(), required=True)


class BatchNormModesSchema(GridEchoSchema):
    momenta = ma.fields.List(ma.fields.Float(), required=True)
    cells = ma.fields.List(ma.fields.Nested(ModesCellSchema), required=True)


class SweepRunSchema(ma.Schema):
    seed = ma.fields.Integer(required=True)
    final_train_loss = _nullable("Training split (probe rows), evaluation mode")
    final_train_accuracy = _nullable("Training split (probe rows), evaluation mode")
    final_test_loss = _nullable("Test split, evaluation mode")
    final_test_accuracy = _nullable("Test split, evaluation mode")
    diverged_at_step = ma.fields.Integer(allow_none=True, required=True)
    request = ma.fields.Dict(
        required=True, metadata={"description": "The trainer request that re-runs this run"}
    )


class SweepCellSchema(ma.Schema):
    batch_size = ma.fields.Integer(required=True)
    normalization = ma.fields.String(required=True)
    learning_rate = ma.fields.Float(required=True)
    steps = ma.fields.Integer(required=True)
    mean_test_accuracy = _nullable("Mean over the runs that did not diverge")
    test_error = _nullable("1 - mean_test_accuracy")
    mean_test_loss = _nullable("Mean over the runs that did not diverge")
    test_accuracy_std = _nullable("Sample standard deviation over the repeats (null for one)")
    runs = ma.fields.List(ma.fields.Nested(SweepRunSchema), required=True)


class BatchSizeSweepSchema(GridEchoSchema):
    normalizations = ma.fields.List(ma.fields.String(), required=True)
    repeats = ma.fields.Integer(required=True)
    cells = ma.fields.List(ma.fields.Nested(SweepCellSchema), required=True)
