"""Training simulation payloads: the spec a client sends (types and choices checked here,
ranges and the fields' interplay by the numerics' build_training_spec, which names the field),
and the documented shape of the JSON answer and of the stream's events."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from service.fields import StrictFloat, StrictInteger
from service.numerics.activations import ACTIVATIONS
from service.numerics.training import DATASETS, INITS, OPTIMIZERS, VARIANTS


def _choice(choices: tuple[str, ...], description: str) -> ma.fields.String:
    return ma.fields.String(
        validate=ma.validate.OneOf(choices), metadata={"description": description}
    )


def _numbers(description: str, **kwargs: Any) -> ma.fields.List:
    return ma.fields.List(StrictFloat(), metadata={"description": description}, **kwargs)


class DatasetSchema(ma.Schema):
    name = ma.fields.String(
        required=True, validate=ma.validate.OneOf(DATASETS), metadata={"example": "blobs"}
    )
    samples = StrictInteger(
        allow_none=True, metadata={"description": "rows (digits: all 1,797)", "example": 600}
    )
    classes = StrictInteger(allow_none=True, metadata={"example": 3})
    features = StrictInteger(allow_none=True, metadata={"example": 8})
    noise = StrictFloat(allow_none=True, metadata={"description": "label/feature noise"})
    test_fraction = StrictFloat(allow_none=True, metadata={"description": "held-out share"})


class OptimizerSchema(ma.Schema):
    name = _choice(OPTIMIZERS, "sgd (torch.optim.SGD) or adam (torch.optim.Adam)")
    learning_rate = StrictFloat(metadata={"example": 0.5})
    momentum = StrictFloat(metadata={"description": "SGD momentum (PyTorch's convention)"})
    weight_decay = StrictFloat(metadata={"description": "L2 added to the gradient"})
    betas = _numbers("Adam's (β1, β2)")
    eps = StrictFloat(metadata={"description": "Adam's ε"})


class NoiseSchema(ma.Schema):
    shift = StrictFloat(metadata={"description": "noisy_batch: m ~ U(-shift, shift)"})
    scale = StrictFloat(metadata={"description": "noisy_batch: s ~ U(1 - scale, 1 + scale)"})


class TrainingRequestSchema(ma.Schema):
    """A training run: the example's field names are the contract."""

    dataset = ma.fields.Nested(DatasetSchema, required=True)
    hidden_widths = ma.fields.List(
        StrictInteger(), required=True, metadata={"example": [100, 100, 100]}
    )
    activation = _choice(ACTIVATIONS, "nonlinearity of every hidden layer")
    negative_slope = StrictFloat(metadata={"description": "leaky_relu"})
    init = _choice(INITS, "an init scheme, or custom with weight_variance")
    weight_variance = StrictFloat(
        allow_none=True, metadata={"description": "init custom: Var(W)", "example": 0.01}
    )
    gain = StrictFloat(allow_none=True, metadata={"description": "init schemes' gain"})
    normalization = _choice(VARIANTS, "none, batch, layer, group, rms (or noisy_batch)")
    eps = StrictFloat(metadata={"example": 1e-5})
    momentum = StrictFloat(metadata={"description": "batch norm's running-stat momentum"})
    groups = StrictInteger(metadata={"description": "group norm's groups", "example": 4})
    noise = ma.fields.Nested(NoiseSchema)
    optimizer = ma.fields.Nested(OptimizerSchema)
    batch_size = StrictInteger(metadata={"example": 60})
    steps = StrictInteger(metadata={"example": 300})
    log_every = StrictInteger(metadata={"example": 10})
    seed = StrictInteger(metadata={"example": 1})
    compare = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(VARIANTS)),
        metadata={
            "description": "more normalizations run on the same data, init and batch order",
            "example": ["none"],
        },
    )
    tracked_unit = StrictInteger(metadata={"description": "the unit of unit_percentiles"})
    probe_size = StrictInteger(metadata={"description": "rows of the fixed probe batch"})
    histogram_bins = StrictInteger()
    histogram_range = _numbers("[low, high] of the histograms' edges")


# ---------------------------------------------------------------------------------------------
# The answer (documentation; the service renders it column-wise, training_events.json_body)


def _column(description: str, inner: ma.fields.Field[Any] | None = None) -> ma.fields.List:
    return ma.fields.List(
        inner or ma.fields.Float(allow_none=True), metadata={"description": description}
    )


Reasons = ma.fields.Dict(
    keys=ma.fields.String(),
    values=ma.fields.List(ma.fields.Dict()),
    metadata={"description": 'why a value is null: {field: [{"reason", "steps"}]}'},
)


class LayerColumnsSchema(ma.Schema):
    layer = ma.fields.Integer(required=True, metadata={"description": "1 … L"})
    mean = _column("mean of z, the nonlinearity's input, on the probe batch")
    variance = _column("its (biased) variance")
    unit_percentiles = _column(
        "15/50/85th percentiles of the tracked unit",
        ma.fields.List(ma.fields.Float(allow_none=True)),
    )
    layer_percentiles = _column(
        "the same over the whole layer", ma.fields.List(ma.fields.Float(allow_none=True))
    )
    saturated_fraction = _column("share of |z| in the saturated zone (sigmoid, tanh)")
    histogram = _column("counts per bin (histogram_edges)", ma.fields.List(ma.fields.Integer()))
    below_range = _column("values below the first edge", ma.fields.Integer())
    above_range = _column("values above the last edge", ma.fields.Integer())
    distribution_shift = _column("mean over units of W1(z now, z at the previous record)")
    grad_norm = _column("‖∂loss/∂W‖")
    update_ratio = _column("‖ΔW‖ / ‖W‖")
    gradient_shift = _column("Santurkar's ‖G − G′‖")
    gradient_cosine = _column("cos(G, G′)")
    null_reasons = Reasons


class VariantColumnsSchema(ma.Schema):
    step = _column("the logged steps this variant reached", ma.fields.Integer())
    batch_loss = _column("every step's minibatch loss")
    train_loss = _column("evaluation mode, over the probe rows")
    train_accuracy = _column("evaluation mode, over the probe rows")
    test_loss = _column("evaluation mode, over the test split")
    test_accuracy = _column("evaluation mode, over the test split")
    diverged_at_step = ma.fields.Integer(allow_none=True)
    layers = ma.fields.List(ma.fields.Nested(LayerColumnsSchema))
    null_reasons = Reasons


class TrainingResultSchema(ma.Schema):
    spec = ma.fields.Dict(metadata={"description": "the normalized spec (defaults filled in)"})
    logged_steps = ma.fields.List(ma.fields.Integer())
    histogram_edges = ma.fields.List(ma.fields.Float())
    variants = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Nested(VariantColumnsSchema),
        metadata={"description": "by normalization: the spec's first, then compare's"},
    )
    summary = ma.fields.Dict(
        metadata={"description": "TrainingSummary: variants (final figures), logged_steps, …"}
    )
