"""Simulations: build the network spec from a request, run it within the service's limits,
and render the answer: analytic answers column-wise (rendering.analytic_body), Monte Carlo
answers by flattening the numerics' dataclasses."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service.jsonio import dumps_bytes
from service.numerics.budget import Budget, Deadline
from service.numerics.errors import CostLimitExceeded
from service.numerics.initializers import init_scheme_table
from service.numerics.mean_field import mean_field_grid, mean_field_point
from service.numerics.monte_carlo import monte_carlo_propagation
from service.numerics.network import LayerStats, PropagationResult, build_network_spec
from service.numerics.propagation import analytic_columns, analytic_cost
from service.simulations.rendering import analytic_body, spec_fields

SPEC_FIELDS = (
    "depth",
    "width",
    "widths",
    "weight_variance",
    "init",
    "gain",
    "input_variance",
    "activation",
    "negative_slope",
    "bias_variance",
    "normalization",
)


@dataclass(frozen=True)
class SimulationLimits:
    """The settings that bound a simulation (README, "Limits")."""

    max_memory: float  # MAX_SIMULATION_MEMORY, bytes
    max_work: float  # MAX_SIMULATION_WORK, multiply-add equivalents
    max_analytic_depth: int  # MAX_ANALYTIC_DEPTH
    deadline_seconds: float | None = None  # SIMULATION_DEADLINE_SECONDS

    @property
    def budget(self) -> Budget:
        return Budget(
            max_memory_bytes=self.max_memory,
            max_work=self.max_work,
            memory_limit_name="MAX_SIMULATION_MEMORY",
            work_limit_name="MAX_SIMULATION_WORK",
        )

    def deadline(self) -> Deadline:
        """A deadline starting now."""
        return Deadline(self.deadline_seconds, limit_name="SIMULATION_DEADLINE_SECONDS")


class Answer:
    """A rendered JSON answer and its strong ETag: a digest of the bytes, made on first use
    (only the GET form needs it) and kept with the answer."""

    __slots__ = ("_etag", "body")

    def __init__(self, body: bytes) -> None:
        self.body = body
        self._etag: str | None = None

    @property
    def etag(self) -> str:
        if self._etag is None:
            self._etag = hashlib.sha256(self.body).hexdigest()[:32]
        return self._etag


def _layer(layer: LayerStats, edges: tuple[float, ...] | None) -> dict[str, Any]:
    row = {field.name: getattr(layer, field.name) for field in dataclasses.fields(layer)}
    sample = row.pop("sample")
    if sample is not None:
        row.update(
            std=sample.std,
            min=sample.min,
            max=sample.max,
            zero_fraction=sample.zero_fraction,
            saturated_fraction=sample.saturated_fraction,
            sampled_weight_variance=sample.sampled_weight_variance,
            histogram={
                "edges": list(edges or ()),
                "counts": list(sample.histogram_counts),
                "below_range": sample.below_range,
                "above_range": sample.above_range,
            },
        )
    return row


def _response(result: PropagationResult) -> dict[str, Any]:
    spec = result.spec
    return {
        **spec_fields(result.mode, spec),
        "layers": [_layer(layer, result.histogram_edges) for layer in result.layers],
        "final_variance": result.final_variance,
        "log10_final_variance": result.log10_final_variance,
        "regime": result.regime,
        "gain_per_layer": result.gain_per_layer,
        "log10_gain_per_layer": result.log10_gain_per_layer,
        "batch_size": result.batch_size,
        "seed": result.seed,
    }


def _check_analytic_depth(depth: int, limits: SimulationLimits) -> None:
    if depth > limits.max_analytic_depth:
        raise CostLimitExceeded(
            f"depth {depth} is above the analytic limit of {limits.max_analytic_depth} "
            "layers (MAX_ANALYTIC_DEPTH)",
            field="depth",
            limit_name="MAX_ANALYTIC_DEPTH",
            limit=limits.max_analytic_depth,
            cost=depth,
        )


def propagate(request: Mapping[str, Any], limits: SimulationLimits) -> Answer:
    """Run an analytic or Monte Carlo propagation; refuses work above the configured limits.

    `request` is validated by the route's schema."""
    if request.get("mode", "analytic") == "analytic":
        spec = build_network_spec(**{k: request[k] for k in SPEC_FIELDS if k in request})
        _check_analytic_depth(spec.depth, limits)
        limits.budget.check(
            analytic_cost(spec, backward=request.get("backward", False)),
            what="this analytic run",
            advice="reduce depth",
            work_field="depth",
            memory_field="depth",
        )
        return Answer(
            analytic_body(analytic_columns(spec, backward=request.get("backward", False)))
        )
    spec = build_network_spec(**{k: request[k] for k in SPEC_FIELDS if k in request})
    batch_size = request.get("batch_size", 256)
    options: dict[str, Any] = {"histogram_bins": request.get("histogram_bins", 40)}
    if request.get("histogram_range") is not None:
        options["histogram_range"] = tuple(request["histogram_range"])
    result = monte_carlo_propagation(
        spec,
        batch_size=batch_size,
        seed=request.get("seed", 0),
        backward=request.get("backward", False),
        budget=limits.budget,
        deadline=limits.deadline(),
        **options,
    )
    return Answer(dumps_bytes(_response(result)))


def init_schemes(negative_slope: float) -> dict[str, Any]:
    table = init_scheme_table(negative_slope)
    return {
        "items": [
            {**dataclasses.asdict(scheme), "formula": scheme.variance_formula}
            for scheme in table.schemes
        ],
        "gains": [dataclasses.asdict(gain) for gain in table.gains],
        "negative_slope": table.negative_slope,
    }


def mean_field(request: Mapping[str, Any]) -> dict[str, Any]:
    point = mean_field_point(
        request["activation"],
        request["sigma_w2"],
        request.get("sigma_b2", 0.0),
        negative_slope=request.get("negative_slope", 0.01),
    )
    return dataclasses.asdict(point)


def mean_field_phase_diagram(
    request: Mapping[str, Any], limits: SimulationLimits
) -> dict[str, Any]:
    grid = mean_field_grid(
        request["activation"],
        request["sigma_w2"],
        request["sigma_b2"],
        negative_slope=request.get("negative_slope", 0.01),
        budget=limits.budget,
        deadline=limits.deadline(),
    )
    return dataclasses.asdict(grid)
