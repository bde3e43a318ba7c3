"""The service without one of its optimizations, for with/without measurements of the
readability rule (bench/notes.md): `BENCH_WITHOUT` names what to leave out (comma-separated),
and `create_app()` builds the service as it would be without it. Served by the same
gunicorn.conf.py beside the unchanged service, so both run interleaved in one invocation.

- `answers`: the quiz read model without its generated-answers cache (a disabled cache);
- `row-splicing`: the analytic answer written as one dict per layer by `jsonio.dumps_bytes`
  (what `rendering.json_rows` produces byte for byte) instead of spliced column texts.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask

KNOWN = ("answers", "row-splicing")


def plain_analytic_body(columns: Any) -> bytes:
    """The analytic answer as the dict it documents, one dict per layer, one dump."""
    from service.jsonio import dumps_bytes
    from service.simulations.rendering import spec_fields

    spec = columns.spec

    def values(column: Any) -> list[Any]:
        return [None] * spec.depth if column is None else column.tolist()  # NaN, inf: null

    names = (
        "preactivation_variance",
        "log10_preactivation_variance",
        "variance",
        "log10_variance",
        "mean",
        "grad_variance",
        "log10_grad_variance",
    )
    rows = zip(*(values(getattr(columns, name)) for name in names), strict=True)
    layers = [
        {
            "index": index,
            "width": width,
            "weight_variance": weight_variance,
            **dict(zip(names, row, strict=True)),
        }
        for index, width, weight_variance, row in zip(
            range(1, spec.depth + 1), spec.widths[1:], spec.weight_variances, rows, strict=True
        )
    ]
    return dumps_bytes(
        {
            **spec_fields("analytic", spec),
            "layers": layers,
            "final_variance": columns.final_variance,
            "log10_final_variance": columns.log10_final_variance,
            "regime": columns.regime,
            "gain_per_layer": columns.gain_per_layer,
            "log10_gain_per_layer": columns.log10_gain_per_layer,
            "batch_size": None,
            "seed": None,
        }
    )


def create_app() -> Flask:
    without = {name for name in os.environ.get("BENCH_WITHOUT", "").split(",") if name}
    unknown = without - set(KNOWN)
    if unknown:
        raise ValueError(f"BENCH_WITHOUT: unknown {sorted(unknown)}; known: {KNOWN}")
    if "row-splicing" in without:
        from service.simulations import services

        services.analytic_body = plain_analytic_body  # type: ignore[assignment]

    from service import create_app as create_service
    from service.caching import Cache

    app = create_service()
    model = app.extensions["quiz_read_model"]
    if "answers" in without:
        model.answers = Cache(1, enabled=False)
    return app
