"""/v1/normalize: normalize submitted activations by any variant, forward and backward."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView

from service.api import Blueprint
from service.errors import NotFound
from service.normalization import codecs, schemas, services
from service.numerics.normalization import VARIANTS
from service.settings_access import settings

blp = Blueprint(
    "normalization",
    __name__,
    url_prefix="/v1/normalize",
    description="Normalize activations with PyTorch's semantics",
)
BINARY = {"type": "string", "format": "binary"}


def _limits() -> services.ArrayLimits:
    config = settings()
    return services.ArrayLimits(
        config.max_array_elements, config.max_array_depth, config.max_compare_elements
    )


def _variant(variant: str) -> str:
    if variant not in VARIANTS:
        raise NotFound(
            f"Unknown normalization variant {variant!r}; use one of {', '.join(VARIANTS)}."
        )
    return variant


@blp.route("/variants")
class Variants(MethodView):
    @blp.arguments(schemas.VariantsArgsSchema, location="query")
    @blp.response(200, schemas.VariantListSchema)
    def get(self, args: dict[str, int]) -> dict[str, Any]:
        """Each variant: what it normalizes over, the axes it reduces for a rank, its parameters."""
        return services.variants(args["ndim"], args["normalized_ndim"])


@blp.route("/compare")
class Compare(MethodView):
    @blp.arguments(schemas.CompareBodySchema)
    @blp.response(200, schemas.CompareResultSchema)
    @blp.problems(413, 422)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """One input through every variant, side by side (with why a variant does not apply).

        At most MAX_COMPARE_ELEMENTS elements (422 beyond): the answer holds five outputs."""
        return services.compare(body, _limits())


@blp.route("/<string:variant>")
class Normalize(MethodView):
    @blp.arguments(schemas.NormalizeQuerySchema, location="query")
    @blp.doc(requestBody=codecs.request_body_doc(schemas.NormalizeBodySchema))
    @blp.response(200, schemas.NormalizeResultSchema)
    @blp.alt_response(
        200,
        success=True,
        content_type=codecs.NPY,
        schema=BINARY,
        description="Accept: application/x-npy: the output array",
    )
    @blp.alt_response(
        200,
        success=True,
        content_type=codecs.NPZ,
        schema=BINARY,
        description="Accept: application/x-npz: output, mean, var, running stats",
    )
    @blp.problems(400, 404, 406, 413, 415, 422)
    def post(self, query: dict[str, Any], variant: str) -> Response | dict[str, Any]:
        """Normalize `input` with batch, layer, group, instance or rms normalization.

        JSON body, or an .npy body (the input; parameters in the query string), or an .npz body
        (input, weight, bias, running_mean, running_var)."""
        fields = codecs.read_fields(schemas.NormalizeBodySchema, query, _limits())
        result = services.normalize(
            _variant(variant), fields, _limits(), summary=codecs.wants_json()
        )
        return codecs.respond(result, ("output", "mean", "var", "running_mean", "running_var"))


@blp.route("/<string:variant>/backward")
class NormalizeBackward(MethodView):
    @blp.arguments(schemas.NormalizeQuerySchema, location="query")
    @blp.doc(requestBody=codecs.request_body_doc(schemas.BackwardBodySchema))
    @blp.response(200, schemas.BackwardResultSchema)
    @blp.alt_response(
        200,
        success=True,
        content_type=codecs.NPZ,
        schema=BINARY,
        description="Accept: application/x-npz: grad_input, grad_weight, grad_bias",
    )
    @blp.problems(400, 404, 406, 413, 415, 422)
    def post(self, query: dict[str, Any], variant: str) -> Response | dict[str, Any]:
        """Gradients for the input, weight and bias given grad_output (as PyTorch autograd)."""
        fields = codecs.read_fields(schemas.BackwardBodySchema, query, _limits())
        result = services.backward(_variant(variant), fields, _limits())
        return codecs.respond(result, ("grad_input", "grad_weight", "grad_bias"))
