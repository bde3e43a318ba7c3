"""The training spec (one validated, frozen value per run) and what a run costs.

`build_training_spec(...)` is the one entry point: it takes plain Python values (as a schema
loads them from JSON: mappings for `dataset`, `optimizer` and `noise`), fills the defaults,
checks every field and raises NumericsError naming it ("dataset.samples", "optimizer.betas",
"hidden_widths", ...). A run is a pure function of the spec it returns.

Variants: the spec's `normalization` is run first, then each entry of `compare` (same data, same
initial weights, same batch order, same noise draws). A variant is one of NORMALIZATIONS or
"noisy_batch": batch norm followed by a random per-step, per-unit affine noise (see network.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from service.numerics.activations import check_activation
from service.numerics.errors import NumericsError
from service.numerics.initializers import INIT_SCHEMES, check_scheme, default_gain
from service.numerics.initializers import weight_variance as scheme_weight_variance
from service.numerics.training.datasets import DatasetSpec, build_dataset_spec

NORMALIZATIONS: Final = ("none", "batch", "layer", "group", "rms")
VARIANTS: Final = (*NORMALIZATIONS, "noisy_batch")
INITS: Final = (*INIT_SCHEMES, "custom")
OPTIMIZERS: Final = ("sgd", "adam")

MAX_HIDDEN_LAYERS: Final = 32
MAX_WIDTH: Final = 1024
MAX_STEPS: Final = 20_000
MAX_LOGGED_STEPS: Final = 2_000
MAX_HISTOGRAM_BINS: Final = 200
MAX_PROBE_SIZE: Final = 4096
MAX_SEED: Final = 2**63 - 1
MAX_LEARNING_RATE: Final = 1e3


@dataclass(frozen=True)
class OptimizerSpec:
    """sgd: torch.optim.SGD(lr, momentum, weight_decay) (dampening 0, no Nesterov);
    adam: torch.optim.Adam(lr, betas, eps, weight_decay) (L2 added to the gradient, no amsgrad).
    `momentum` is ignored by adam, `betas` and `eps` by sgd."""

    name: str = "sgd"
    learning_rate: float = 0.1
    momentum: float = 0.0
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8


@dataclass(frozen=True)
class NoiseSpec:
    """The noise of "noisy_batch": after batch norm, z ← z·s + m per step and unit with
    s ~ U(1 - scale, 1 + scale) and m ~ U(-shift, shift)."""

    shift: float = 1.0
    scale: float = 0.5


@dataclass(frozen=True)
class TrainingSpec:
    """A validated training run; build it with build_training_spec.

    widths = (features, *hidden_widths, classes). weight_variances: Var(W_l) for the L + 1
    layers (output last), resolved from `init` (and `gain`) or from `weight_variance` when
    init is "custom". variants: (normalization, *compare).
    """

    dataset: DatasetSpec
    hidden_widths: tuple[int, ...]
    activation: str
    negative_slope: float
    init: str
    weight_variance: float | None
    gain: float | None
    weight_variances: tuple[float, ...]
    normalization: str
    eps: float
    momentum: float
    groups: int
    noise: NoiseSpec
    optimizer: OptimizerSpec
    batch_size: int
    steps: int
    log_every: int
    seed: int
    compare: tuple[str, ...]
    tracked_unit: int
    probe_size: int
    histogram_bins: int
    histogram_range: tuple[float, float]
    variants: tuple[str, ...]

    @property
    def widths(self) -> tuple[int, ...]:
        return (self.dataset.features, *self.hidden_widths, self.dataset.classes)

    @property
    def logged_steps(self) -> tuple[int, ...]:
        """0, log_every, 2·log_every, ... and the last step."""
        steps = list(range(0, self.steps + 1, self.log_every))
        if steps[-1] != self.steps:
            steps.append(self.steps)
        return tuple(steps)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int(value: object, name: str, low: int, high: int) -> int:
    if not _is_int(value) or not low <= value <= high:  # type: ignore[operator]
        raise NumericsError(f"{name} must be an integer in [{low}, {high}]", field=name)
    return int(value)  # type: ignore[call-overload]


def _number(
    value: object, name: str, low: float, high: float = math.inf, *, open_low: bool = False
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise NumericsError(f"{name} must be a number", field=name)
    number = float(value)
    too_low = number <= low if open_low else number < low
    if not math.isfinite(number) or too_low or number > high:
        bound = f"> {low:g}" if open_low else f">= {low:g}"
        if high < math.inf:
            bound += f" and <= {high:g}"
        raise NumericsError(f"{name} must be a finite number {bound}", field=name)
    return number


def _choice(value: object, name: str, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise NumericsError(
            f"unknown {name} {value!r}; expected one of {', '.join(choices)}", field=name
        )
    return value


def _mapping(value: object, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise NumericsError(f"{name} must be an object", field=name)
    return value


def _known(values: Mapping[str, Any], name: str, allowed: Sequence[str]) -> None:
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise NumericsError(
            f"unknown field {unknown[0]!r}; expected {', '.join(allowed)}",
            field=f"{name}.{unknown[0]}",
        )


def build_optimizer_spec(optimizer: Mapping[str, Any] | OptimizerSpec | None) -> OptimizerSpec:
    """Validate the optimizer object; fields named "optimizer.<field>" in errors."""
    if isinstance(optimizer, OptimizerSpec):
        optimizer = optimizer.__dict__
    values = dict(_mapping(optimizer if optimizer is not None else {}, "optimizer"))
    _known(values, "optimizer", tuple(OptimizerSpec.__dataclass_fields__))
    default = OptimizerSpec()
    name = _choice(values.get("name", default.name), "optimizer.name", OPTIMIZERS)
    betas = values.get("betas", default.betas)
    if isinstance(betas, str) or not isinstance(betas, Sequence) or len(betas) != 2:
        raise NumericsError(
            "optimizer.betas must be two numbers in [0, 1)", field="optimizer.betas"
        )
    beta1, beta2 = (_number(b, "optimizer.betas", 0.0, 1.0) for b in betas)
    if beta1 >= 1.0 or beta2 >= 1.0:
        raise NumericsError(
            "optimizer.betas must be two numbers in [0, 1)", field="optimizer.betas"
        )
    return OptimizerSpec(
        name=name,
        learning_rate=_number(
            values.get("learning_rate", default.learning_rate),
            "optimizer.learning_rate",
            0.0,
            MAX_LEARNING_RATE,
            open_low=True,
        ),
        momentum=_number(values.get("momentum", default.momentum), "optimizer.momentum", 0, 1),
        weight_decay=_number(
            values.get("weight_decay", default.weight_decay), "optimizer.weight_decay", 0, 1e3
        ),
        betas=(beta1, beta2),
        eps=_number(values.get("eps", default.eps), "optimizer.eps", 0.0, 1.0, open_low=True),
    )


def build_noise_spec(noise: Mapping[str, Any] | NoiseSpec | None) -> NoiseSpec:
    if isinstance(noise, NoiseSpec):
        noise = noise.__dict__
    values = dict(_mapping(noise if noise is not None else {}, "noise"))
    _known(values, "noise", ("shift", "scale"))
    default = NoiseSpec()
    shift = _number(values.get("shift", default.shift), "noise.shift", 0.0, 100.0)
    scale = _number(values.get("scale", default.scale), "noise.scale", 0.0, 1.0)
    if scale >= 1.0:
        raise NumericsError("noise.scale must be < 1 (scales stay positive)", field="noise.scale")
    return NoiseSpec(shift=shift, scale=scale)


def _widths(hidden_widths: object) -> tuple[int, ...]:
    if isinstance(hidden_widths, str | bytes) or not isinstance(hidden_widths, Sequence):
        raise NumericsError("hidden_widths must be a list of integers", field="hidden_widths")
    if not 1 <= len(hidden_widths) <= MAX_HIDDEN_LAYERS:
        raise NumericsError(
            f"hidden_widths must have 1 to {MAX_HIDDEN_LAYERS} entries", field="hidden_widths"
        )
    return tuple(_int(w, "hidden_widths", 1, MAX_WIDTH) for w in hidden_widths)


def _variants(normalization: object, compare: object) -> tuple[str, tuple[str, ...]]:
    main = _choice(normalization, "normalization", VARIANTS)
    if isinstance(compare, str) or not isinstance(compare, Sequence):
        raise NumericsError("compare must be a list of normalizations", field="compare")
    others = tuple(_choice(c, "compare", VARIANTS) for c in compare)
    runs = (main, *others)
    if len(set(runs)) != len(runs):
        raise NumericsError(
            "compare must not repeat a normalization (the spec's own normalization runs first)",
            field="compare",
        )
    return main, others


def build_training_spec(
    *,
    dataset: Mapping[str, Any] | DatasetSpec,
    hidden_widths: Sequence[int],
    activation: str = "relu",
    negative_slope: float = 0.01,
    init: str = "he_normal",
    weight_variance: float | None = None,
    gain: float | None = None,
    normalization: str = "none",
    eps: float = 1e-5,
    momentum: float = 0.1,
    groups: int = 4,
    noise: Mapping[str, Any] | NoiseSpec | None = None,
    optimizer: Mapping[str, Any] | OptimizerSpec | None = None,
    batch_size: int = 60,
    steps: int = 300,
    log_every: int = 10,
    seed: int = 0,
    compare: Sequence[str] = (),
    tracked_unit: int = 0,
    probe_size: int = 256,
    histogram_bins: int = 40,
    histogram_range: Sequence[float] = (-8.0, 8.0),
) -> TrainingSpec:
    """Validate every field once; NumericsError.field names the offending one.

    init "custom" takes weight_variance (Var(W) of every layer, output included); every other
    init takes an optional gain (default initializers.default_gain for the activation) and no
    weight_variance. `groups` must divide every hidden width when a variant is "group";
    batch_size >= 2 when a variant normalizes over the batch. probe_size is capped at the
    number of training rows.
    """
    data = build_dataset_spec(dataset)
    widths = _widths(hidden_widths)
    check_activation(activation, negative_slope)
    init = _choice(init, "init", INITS)
    all_widths = (data.features, *widths, data.classes)
    resolved_gain: float | None = None
    if init == "custom":
        if weight_variance is None:
            raise NumericsError('init "custom" needs weight_variance', field="weight_variance")
        if gain is not None:
            raise NumericsError('gain does not apply to init "custom"', field="gain")
        variance = _number(weight_variance, "weight_variance", 0.0, 1e6)
        variances = (variance,) * (len(widths) + 1)
    else:
        if weight_variance is not None:
            raise NumericsError(
                'weight_variance applies only to init "custom"', field="weight_variance"
            )
        check_scheme(init)
        resolved_gain = (
            default_gain(init, activation, negative_slope)
            if gain is None
            else _number(gain, "gain", 0.0, 1e3, open_low=True)
        )
        variances = tuple(_scheme_variance(init, all_widths, resolved_gain))
    main, others = _variants(normalization, compare)
    variants = (main, *others)
    eps = _number(eps, "eps", 0.0, 1.0, open_low=True)
    momentum = _number(momentum, "momentum", 0.0, 1.0)
    groups = _int(groups, "groups", 1, MAX_WIDTH)
    if "group" in variants and any(w % groups for w in widths):
        raise NumericsError(
            f"groups = {groups} must divide every hidden width {list(widths)}", field="groups"
        )
    train_rows = data.train_rows
    batch_size = _int(batch_size, "batch_size", 1, train_rows)
    if batch_size < 2 and {"batch", "noisy_batch"} & set(variants):
        raise NumericsError("batch normalization needs batch_size >= 2", field="batch_size")
    steps = _int(steps, "steps", 1, MAX_STEPS)
    log_every = _int(log_every, "log_every", 1, steps)
    if -(-steps // log_every) + 1 > MAX_LOGGED_STEPS:
        raise NumericsError(
            f"steps / log_every gives more than {MAX_LOGGED_STEPS} logged steps; raise log_every",
            field="log_every",
        )
    bins = _int(histogram_bins, "histogram_bins", 1, MAX_HISTOGRAM_BINS)
    if isinstance(histogram_range, str) or not isinstance(histogram_range, Sequence):
        raise NumericsError("histogram_range must be [low, high]", field="histogram_range")
    if len(histogram_range) != 2:
        raise NumericsError("histogram_range must be [low, high]", field="histogram_range")
    low, high = (_number(v, "histogram_range", -1e6, 1e6) for v in histogram_range)
    if not low < high:
        raise NumericsError("histogram_range must have low < high", field="histogram_range")
    return TrainingSpec(
        dataset=data,
        hidden_widths=widths,
        activation=activation,
        negative_slope=float(negative_slope),
        init=init,
        weight_variance=None if init != "custom" else variances[0],
        gain=resolved_gain,
        weight_variances=variances,
        normalization=main,
        eps=eps,
        momentum=momentum,
        groups=groups,
        noise=build_noise_spec(noise),
        optimizer=build_optimizer_spec(optimizer),
        batch_size=batch_size,
        steps=steps,
        log_every=log_every,
        seed=_int(seed, "seed", 0, MAX_SEED),
        compare=others,
        tracked_unit=_int(tracked_unit, "tracked_unit", 0, min(widths) - 1),
        probe_size=min(_int(probe_size, "probe_size", 2, MAX_PROBE_SIZE), train_rows),
        histogram_bins=bins,
        histogram_range=(low, high),
        variants=variants,
    )


def _scheme_variance(init: str, widths: Sequence[int], gain: float) -> list[float]:
    return [
        scheme_weight_variance(init, widths[i], widths[i + 1], gain) for i in range(len(widths) - 1)
    ]
