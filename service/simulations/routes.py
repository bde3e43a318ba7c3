"""/v1/simulations: variance propagation, init schemes and mean-field theory."""

from __future__ import annotations

from typing import Any

from flask import Response, after_this_request
from flask.views import MethodView

from service.api import Blueprint
from service.settings_access import settings
from service.simulations import schemas, services

blp = Blueprint(
    "simulations",
    __name__,
    url_prefix="/v1/simulations",
    description="How activation variance grows or shrinks through deep networks",
)


def _limits() -> services.SimulationLimits:
    config = settings()
    return services.SimulationLimits(config.max_simulation_cost, config.max_analytic_depth)


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
    @blp.problems(400, 413, 422)
    def post(self, body: dict[str, Any]) -> Response:
        """Propagate variance through a network, analytically or by Monte Carlo.

        Give `weight_variance` or `init`; Monte Carlo runs costing more than
        MAX_SIMULATION_COST (width² · depth · batch) are refused with 422."""
        # Rendered directly: dumping 10^4-10^5 layers through the schema costs more than the
        # simulation (the schema documents the shape; tests check conformance).
        answer = services.propagate(body, _limits())
        return Response(answer.body, mimetype="application/json")

    @blp.etag
    @blp.arguments(schemas.PropagationQuerySchema, location="query")
    @blp.response(200, schemas.PropagationResultSchema)
    @blp.problems(422)
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
    @blp.problems(400, 422)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """A phase diagram: the mean-field point over a grid of σ_b² × σ_w²."""
        return services.mean_field_phase_diagram(body)
