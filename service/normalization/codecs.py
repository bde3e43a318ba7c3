"""Content negotiation for arrays: JSON bodies, `application/x-npy` (the input, parameters in the
query string) and `application/x-npz` (named arrays); answers in JSON, .npy or .npz by Accept."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import marshmallow as ma
from flask import Response, request

from service.errors import NotAcceptable, UnsupportedMediaType
from service.jsonio import parse_json_body
from service.normalization.services import MAX_ARRAY_ELEMENTS, ArrayLimits
from service.numerics.arrays import dump_npy, dump_npz, load_npy, load_npz
from service.numerics.errors import CostLimitExceeded, NumericsError

JSON = "application/json"
NPY = "application/x-npy"
NPZ = "application/x-npz"
NPZ_MEMBERS = ("input", "weight", "bias", "running_mean", "running_var", "grad_output")


@contextmanager
def _limit_named_by_its_setting() -> Iterator[None]:
    """An array over the element limit names MAX_ARRAY_ELEMENTS, as the README's table does."""
    try:
        yield
    except CostLimitExceeded as exc:
        raise exc.renamed(MAX_ARRAY_ELEMENTS) from None


def read_fields(
    body_schema: type[ma.Schema], query: Mapping[str, Any], limits: ArrayLimits
) -> dict[str, Any]:
    """The request's fields, whatever the body's content type (validated by `body_schema`)."""
    mimetype = request.mimetype
    if mimetype == JSON or mimetype.endswith("+json"):
        if query:
            raise ma.ValidationError(
                {
                    name: ["Send parameters in the JSON body, not the query string."]
                    for name in query
                }
            )
        fields: dict[str, Any] = body_schema().load(parse_json_body(request.get_data()))
        return fields
    if mimetype == NPY:
        with _limit_named_by_its_setting():
            array = load_npy(request.get_data(), field="input", max_elements=limits.max_elements)
        return {**query, "input": array}
    if mimetype == NPZ:
        with _limit_named_by_its_setting():
            arrays = load_npz(request.get_data(), field="body", max_elements=limits.max_elements)
        unknown = sorted(set(arrays) - set(NPZ_MEMBERS))
        if unknown:
            raise NumericsError(
                f"unknown arrays {unknown}; allowed: {', '.join(NPZ_MEMBERS)}", "body"
            )
        if "input" not in arrays:
            raise NumericsError("the archive needs an array named 'input'", "body")
        return {**query, **arrays}
    raise UnsupportedMediaType(
        f"Send the arrays as {JSON}, {NPY} (the input) or {NPZ} (named arrays); "
        f"got {mimetype or 'no content type'}."
    )


def preferred() -> str | None:
    """The response type the Accept header prefers (JSON without one); None: none acceptable."""
    accept = request.accept_mimetypes
    return accept.best_match([JSON, NPY, NPZ]) if accept else JSON


def wants_json() -> bool:
    """Whether the answer will be JSON (or a 406): binary answers carry no summary statistics,
    so the view can skip computing them (two float64 passes over input and output)."""
    return preferred() in (JSON, None)


def respond(payload: dict[str, Any], array_keys: tuple[str, ...]) -> Response | dict[str, Any]:
    """JSON (the dict, dumped by the view's schema) or binary, as the Accept header prefers."""
    best = preferred()
    if best is None:
        raise NotAcceptable(f"This resource is available as {JSON}, {NPY} or {NPZ}.")
    if best == NPY:
        return Response(dump_npy(payload[array_keys[0]]), mimetype=NPY)
    if best == NPZ:
        arrays = {key: payload[key] for key in array_keys if payload.get(key) is not None}
        return Response(dump_npz(arrays), mimetype=NPZ)
    return payload


def request_body_doc(json_schema: type[ma.Schema]) -> dict[str, Any]:
    """OpenAPI requestBody documenting the three accepted content types."""
    binary = {"type": "string", "format": "binary"}
    return {
        "required": True,
        "content": {
            JSON: {"schema": json_schema},
            NPY: {"schema": binary},
            NPZ: {"schema": binary},
        },
    }
