"""/v1/simulations: variance propagation, init schemes, mean-field theory and training."""

from __future__ import annotations

from typing import Any

from flask import Response, after_this_request, current_app, request
from flask.views import MethodView

from service.api import Blueprint
from service.settings_access import settings
from service.simulations import (
    batch_size_schemas,
    batch_size_services,
    schemas,
    services,
    training,
    training_schemas,
)

blp = Blueprint(
    "simulations",
    __name__,
    url_prefix="/v1/simulations",
    description="How activation variance grows or shrinks through deep networks",
)


def _limits() -> services.SimulationLimits:
    config = settings()
    return services.SimulationLimits(
        max_memory=config.max_simulation_memory,
        max_work=config.max_simulation_work,
        max_analytic_depth=config.max_analytic_depth,
        deadline_seconds=config.simulation_deadline_seconds,
    )


# The GET form's answer depends on the query alone; after a deploy (numerics may change) a
# client revalidates within five minutes, and a revalidation costs a request, not a download.
PROPAGATION_CACHE_CONTROL = "public, max-age=300, must-revalidate"


def _revalidate(response: Response) -> Response:
    """Cache-Control on the answer and on its 304 alike."""
    response.headers["Cache-Control"] = PROPAGATION_CACHE_CONTROL
    return response


@blp.route("/propagation")
class Propagation(MethodView):
    @blp.arguments(schemas.PropagationBodySchema)
    @blp.response(200, schemas.PropagationResultSchema)
    @blp.problems(400, 413, 422, 503)
    def post(self, body: dict[str, Any]) -> Response:
        """Propagate variance through a network, analytically or by Monte Carlo.

        Give `weight_variance` or `init`. A run needing more memory than MAX_SIMULATION_MEMORY
        or more work than MAX_SIMULATION_WORK is refused with 422 naming the limit; one that
        outruns SIMULATION_DEADLINE_SECONDS is stopped with 503."""
        # Rendered directly: dumping 10^4-10^5 layers through the schema costs more than the
        # simulation (the schema documents the shape; tests check conformance).
        answer = services.propagate(body, _limits())
        return Response(answer.body, mimetype="application/json")

    @blp.etag
    @blp.arguments(schemas.PropagationQuerySchema, location="query")
    @blp.response(200, schemas.PropagationResultSchema)
    @blp.problems(422, 503)
    def get(self, args: dict[str, Any]) -> Response:
        """The same simulation with its fields in the query string (for links and curl).

        Carries a strong ETag (made from a digest of the answer); send it back in If-None-Match
        to get 304 while the answer is unchanged."""
        answer = services.propagate(args, _limits())
        after_this_request(_revalidate)
        blp.set_etag(answer.etag)
        return Response(answer.body, mimetype="application/json")


@blp.route("/init-schemes")
class InitSchemes(MethodView):
    @blp.arguments(schemas.InitSchemesArgsSchema, location="query")
    @blp.response(200, schemas.InitSchemesSchema)
    @blp.problems(422)
    def get(self, args: dict[str, float]) -> dict[str, Any]:
        """Each initialization scheme's Var(W) formula, and the gain of every activation."""
        return services.init_schemes(args["negative_slope"])


@blp.route("/mean-field")
class MeanField(MethodView):
    @blp.arguments(schemas.MeanFieldRequestSchema)
    @blp.response(200, schemas.MeanFieldSchema)
    @blp.problems(400, 422)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Fixed point q*, slope χ, phase and depth scale for (σ_w², σ_b²) (edge of chaos)."""
        return services.mean_field(body)


@blp.route("/mean-field/grid")
class MeanFieldGrid(MethodView):
    @blp.arguments(schemas.MeanFieldGridRequestSchema)
    @blp.response(200, schemas.MeanFieldGridSchema)
    @blp.problems(400, 422, 503)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """A phase diagram: the mean-field point over a grid of σ_b² × σ_w²."""
        return services.mean_field_phase_diagram(body, _limits())


@blp.route("/training")
class Training(MethodView):
    @blp.arguments(training_schemas.TrainingRequestSchema)
    @blp.response(200, training_schemas.TrainingResultSchema)
    @blp.alt_response(
        200,
        success=True,
        content_type=training.EVENT_STREAM,
        schema={"type": "string"},
        description="Accept: text/event-stream: `start`, one `step` per record as it is "
        "computed, `summary` (and `error` with a problem document if the run fails)",
    )
    @blp.alt_response(
        200,
        success=True,
        content_type=training.NPZ,
        schema={"type": "string", "format": "binary"},
        description="Accept: application/x-npz: what a script needs to replay the run "
        "(x_train, y_train, x_test, y_test, batch_indices, batch_loss, initial_weight_l, "
        "initial_bias_l, initial_scale_l, initial_shift_l) and the logged history",
    )
    @blp.problems(400, 406, 413, 415, 422)
    def post(self, body: dict[str, Any]) -> Response:
        """Train a small classifier and watch each layer's input drift (internal covariate
        shift), with and without normalization (`compare`).

        Runs costing more than MAX_TRAINING_COST multiply-adds are refused with 422. The same
        spec gives the same bytes; concurrent identical requests share one run."""
        config = settings()
        answer = training.train(
            body,
            training.representation(request.accept_mimetypes),
            training.TrainingLimits(config.max_training_cost, config.max_training_memory),
            current_app.extensions["trainer"],
        )
        return Response(answer.body, mimetype=answer.mimetype, headers=dict(answer.headers))


@blp.route("/batch-statistics")
class BatchStatistics(MethodView):
    @blp.arguments(batch_size_schemas.BatchStatisticsRequestSchema)
    @blp.response(200, batch_size_schemas.BatchStatisticsSchema)
    @blp.problems(400, 422)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """How much one example's normalized value moves with the rest of its batch.

        Monte Carlo over random batch compositions beside the first-order (1 + z²/2)/m and the
        exact variance (quadrature). Requests above MAX_BATCH_STATISTICS_COST are refused (422)."""
        return batch_size_services.batch_statistics(body, settings().max_batch_statistics_cost)


@blp.route("/batch-norm-modes")
class BatchNormModes(MethodView):
    @blp.arguments(batch_size_schemas.BatchNormModesRequestSchema)
    @blp.response(200, batch_size_schemas.BatchNormModesSchema)
    @blp.problems(400, 422)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Train versus evaluation mode: a batch-norm network trained per batch size and
        momentum, evaluated with running, batch and population statistics.

        Grids whose training runs cost more than MAX_SWEEP_COST are refused (422)."""
        return batch_size_services.batch_norm_modes(body, settings().max_sweep_cost)


@blp.route("/batch-size-sweep")
class BatchSizeSweep(MethodView):
    @blp.arguments(batch_size_schemas.BatchSizeSweepRequestSchema)
    @blp.response(200, batch_size_schemas.BatchSizeSweepSchema)
    @blp.problems(400, 422)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Final test accuracy and loss for every batch size × normalization, each cell
        reproducible from its trainer request.

        Sweeps whose training runs cost more than MAX_SWEEP_COST are refused (422)."""
        return batch_size_services.batch_size_sweep(body, settings().max_sweep_cost)
