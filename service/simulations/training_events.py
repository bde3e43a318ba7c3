"""A training run as a sequence of events, and the three representations made from them.

An event is (name, data): `data` is the JSON text of a dict, one line (orjson never writes a raw
newline). A run is always the same events for the same spec, in order:

    start     {"spec": <normalized spec>, "variants", "logged_steps", "histogram_edges",
               "probe_rows", "train_rows", "test_rows", "records": <at most this many steps>}
    step      a StepRecord's fields by their names (layers: LayerRecord fields), per variant
              and logged step, as computed
    summary   the TrainingSummary's fields
    error     a problem document (an unexpected failure mid-run; never stored)

The stream sends the events as they are; the JSON answer and the .npz are made from the whole
list, so a stored run gives the same bytes as a fresh one in every representation.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Generator, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import orjson

from service.numerics.training import (
    LayerRecord,
    StepRecord,
    TrainingRun,
    TrainingSpec,
    history_arrays,
)

Event = tuple[str, bytes]

LAYER_COLUMNS = (
    "mean",
    "variance",
    "unit_percentiles",
    "layer_percentiles",
    "saturated_fraction",
    "histogram",
    "below_range",
    "above_range",
    "distribution_shift",
    "grad_norm",
    "update_ratio",
    "gradient_shift",
    "gradient_cosine",
)
RECORD_COLUMNS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy")
_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=_OPTIONS)


def spec_echo(spec: TrainingSpec) -> dict[str, Any]:
    """The normalized spec: every field with its default filled in (and weight_variances, the
    Var(W) of each layer that init resolved to)."""
    return dataclasses.asdict(spec)


def histogram_edges(spec: TrainingSpec) -> list[float]:
    low, high = spec.histogram_range
    edges: list[float] = np.linspace(low, high, spec.histogram_bins + 1).tolist()
    return edges


def training_events(spec: TrainingSpec) -> Generator[Event, None, None]:
    """The run's events, each computed when pulled (stop pulling to stop computing)."""
    yield (
        "start",
        _dumps(
            {
                "spec": spec_echo(spec),
                "variants": spec.variants,
                "logged_steps": spec.logged_steps,
                "histogram_edges": histogram_edges(spec),
                "probe_rows": spec.probe_size,
                "train_rows": spec.dataset.train_rows,
                "test_rows": spec.dataset.test_rows,
                "records": len(spec.logged_steps) * len(spec.variants),
            }
        ),
    )
    run = TrainingRun(spec)
    for record in run:
        yield "step", _dumps(dataclasses.asdict(record))
    yield "summary", _dumps(dataclasses.asdict(run.summary()))


def sse_frame(event: Event) -> bytes:
    name, data = event
    return b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"


# ---------------------------------------------------------------------------------------------
# The whole run, decoded


@dataclasses.dataclass(frozen=True)
class FinishedRun:
    start: dict[str, Any]
    records: dict[str, list[StepRecord]]  # by variant, in order
    summary: dict[str, Any]


def _record(fields: dict[str, Any]) -> StepRecord:
    layers = tuple(LayerRecord(**layer) for layer in fields.pop("layers"))
    return StepRecord(layers=layers, **fields)


def decode(events: Sequence[Event]) -> FinishedRun:
    """The run's start, records and summary (events of a finished run, without errors)."""
    start: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    records: dict[str, list[StepRecord]] = {}
    for name, data in events:
        if name == "start":
            start = orjson.loads(data)
            records = {variant: [] for variant in start["variants"]}
        elif name == "step":
            record = _record(orjson.loads(data))
            records[record.variant].append(record)
        elif name == "summary":
            summary = orjson.loads(data)
    return FinishedRun(start, records, summary)


def _reasons(items: Iterable[tuple[int, Mapping[str, str]]]) -> dict[str, list[dict[str, Any]]]:
    """{field: [{"reason": why, "steps": [...]}, ...]}: each reason once with its steps."""
    grouped: dict[str, dict[str, list[int]]] = defaultdict(dict)
    for step, reasons in items:
        for name, why in reasons.items():
            grouped[name].setdefault(why, []).append(step)
    return {
        name: [{"reason": why, "steps": steps} for why, steps in by_reason.items()]
        for name, by_reason in grouped.items()
    }


def _batch_losses(records: Sequence[StepRecord]) -> list[float | None]:
    return [loss for record in records for loss in record.batch_losses]


def _variant_columns(records: Sequence[StepRecord]) -> dict[str, Any]:
    kept = [r for r in records if not r.diverged]
    diverged = next((r for r in records if r.diverged), None)
    columns = history_arrays(kept)
    layer_count = len(kept[0].layers) if kept else 0
    layers = []
    for index in range(layer_count):
        layer: dict[str, Any] = {"layer": index + 1}
        layer.update({n: np.ascontiguousarray(columns[n][:, index]) for n in LAYER_COLUMNS})
        layer["null_reasons"] = _reasons((r.step, r.layers[index].null_reasons) for r in kept)
        layers.append(layer)
    reasons = _reasons((r.step, r.null_reasons) for r in kept)
    if diverged is not None:
        why = diverged.null_reasons["batch_losses"]
        reasons.update(_reasons([(diverged.step, {"batch_loss": why})]))
    return {
        "step": columns["step"],
        "batch_loss": _batch_losses(records),
        **{name: columns[name] for name in RECORD_COLUMNS},
        "diverged_at_step": None if diverged is None else diverged.step,
        "layers": layers,
        "null_reasons": reasons,
    }


def json_body(events: Sequence[Event]) -> bytes:
    """The whole run column-wise (TrainingResultSchema): per variant one array per metric over
    the logged steps it reached, per hidden layer the same; null where a value is not finite,
    with the reason in `null_reasons` ({field: [{"reason", "steps"}]})."""
    run = decode(events)
    return _dumps(
        {
            "spec": run.start["spec"],
            "logged_steps": run.start["logged_steps"],
            "histogram_edges": run.start["histogram_edges"],
            "variants": {name: _variant_columns(rows) for name, rows in run.records.items()},
            "summary": run.summary,
        }
    )


def npz_arrays(spec: TrainingSpec, events: Sequence[Event]) -> dict[str, np.ndarray]:
    """The .npz members: TrainingRun.replay_arrays()'s names (x_train, y_train, x_test, y_test,
    batch_indices, batch_loss, initial_weight_l, initial_bias_l, initial_scale_l,
    initial_shift_l, probe_indices, noise_*), with batch_loss from the run's records (NaN where
    a loss was not finite or a step never ran); then logged_steps, histogram_edges and the
    history of the spec's own normalization unprefixed (step, train_loss, ..., per-layer
    columns (records, layers[, 3 | bins]): history_arrays' names). With `compare`, every
    variant's history is also there suffixed by the variant, as replay_arrays names the
    per-variant losses: batch_loss_<variant>, train_loss_<variant>, histogram_<variant>, ...
    """
    run = decode(events)
    arrays = TrainingRun(spec).replay_arrays()
    histories: dict[str, dict[str, np.ndarray]] = {}
    for variant, records in run.records.items():
        losses = np.full(spec.steps, np.nan)
        known = np.array(_batch_losses(records), dtype=np.float64)  # None -> NaN
        losses[: len(known)] = known
        histories[variant] = {"batch_loss": losses, **history_arrays(records)}
    arrays["logged_steps"] = np.array(spec.logged_steps, dtype=np.int64)
    arrays["histogram_edges"] = np.array(histogram_edges(spec))
    arrays.update(histories[spec.variants[0]])
    if len(spec.variants) > 1:
        for variant, history in histories.items():
            arrays.update({f"{name}_{variant}": values for name, values in history.items()})
    return arrays
