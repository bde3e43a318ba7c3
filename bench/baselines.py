"""Bare Flask apps that the service is measured against, served by the same gunicorn config.

    gunicorn --config gunicorn.conf.py "bench.baselines:create_app()"

/hello            hello world (text)
/bytes/<n>        n bytes of JSON-shaped filler, built once: a bare request with the same
                  response size as the service's
/npy/layer        .npy in, np.load, bare layer norm over the last axis, np.save out
/naive/layer      stdlib json in, np.asarray, the same numpy, tolist, jsonify out
/analytic         the analytic propagation answer of a ReLU network of uniform width (the
                  bench's request), computed by one numpy recurrence and written by orjson in
                  the service's row shape (a dict per layer): the analytic floor
"""

from __future__ import annotations

import functools
import io
import json
import math
from typing import Any

import numpy as np
import orjson
from flask import Flask, Response, jsonify, request
from flask.json.provider import DefaultJSONProvider

EPS = 1e-5


def bare_layer_norm(x: np.ndarray, eps: float = EPS) -> np.ndarray:
    """(x - mean) / sqrt(var + eps) over the last axis, in x's dtype: the textbook numpy."""
    mean = x.mean(axis=-1, keepdims=True)
    centered = x - mean
    var = np.mean(centered * centered, axis=-1, keepdims=True)
    return np.asarray(centered / np.sqrt(var + x.dtype.type(eps)))


def bare_analytic_answer(request: dict[str, Any]) -> bytes:
    """The answer to POST /v1/simulations/propagation (mode analytic, ReLU, one width, no
    normalization) from one recurrence: q_1 = n·Var(W)·Var(x), q_l+1 = n·Var(W)·q_l / 2, then
    Var(relu(h)) = q (1/2 - 1/2π) and E[relu(h)] = sqrt(q / 2π); rows as dicts, one orjson dump."""
    depth, width = int(request["depth"]), int(request["width"])
    weight_variance, input_variance = request["weight_variance"], request["input_variance"]
    factors = np.full(depth, width * weight_variance * 0.5)
    factors[0] = width * weight_variance
    q = input_variance * np.cumprod(factors)
    variance = q * (0.5 - 0.5 / math.pi)
    columns = zip(
        q.tolist(),
        np.log10(q).tolist(),
        variance.tolist(),
        np.log10(variance).tolist(),
        np.sqrt(q / (2.0 * math.pi)).tolist(),
        strict=True,
    )
    layers = [
        {
            "index": index,
            "width": width,
            "weight_variance": weight_variance,
            "preactivation_variance": pre,
            "log10_preactivation_variance": log10_pre,
            "variance": var,
            "log10_variance": log10_var,
            "mean": mean,
            "grad_variance": None,
            "log10_grad_variance": None,
        }
        for index, (pre, log10_pre, var, log10_var, mean) in enumerate(columns, 1)
    ]
    final = float(variance[-1])
    log10_ratio = math.log10(final / input_variance)
    return orjson.dumps(
        {
            "mode": "analytic",
            "depth": depth,
            "widths": [width] * (depth + 1),
            "activation": "relu",
            "init": None,
            "gain": None,
            "normalization": None,
            "input_variance": input_variance,
            "layers": layers,
            "final_variance": final,
            "log10_final_variance": math.log10(final),
            "regime": "exploding"
            if log10_ratio > 1
            else "vanishing"
            if log10_ratio < -1
            else "stable",
            "gain_per_layer": 10 ** (log10_ratio / depth),
            "log10_gain_per_layer": log10_ratio / depth,
            "batch_size": None,
            "seed": None,
        }
    )


@functools.lru_cache(maxsize=16)
def _filler(size: int) -> bytes:
    if size < 2:
        return b"0" * size
    return b"[" + b"0" * (size - 2) + b"]"


def create_app() -> Flask:
    app = Flask(__name__)
    app.json_provider_class = DefaultJSONProvider  # stdlib json: the naive baseline's
    app.json = DefaultJSONProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = None

    @app.get("/hello")
    def hello() -> Response:
        return Response(b"hello", mimetype="text/plain")

    @app.get("/bytes/<int:size>")
    def filler(size: int) -> Response:
        return Response(_filler(size), mimetype="application/json")

    @app.post("/npy/layer")
    def npy_layer() -> Response:
        x = np.load(io.BytesIO(request.get_data()), allow_pickle=False)
        out = io.BytesIO()
        np.save(out, bare_layer_norm(x), allow_pickle=False)
        return Response(out.getvalue(), mimetype="application/x-npy")

    @app.post("/analytic")
    def analytic() -> Response:
        return Response(
            bare_analytic_answer(orjson.loads(request.get_data())), mimetype="application/json"
        )

    @app.post("/naive/layer")
    def naive_layer() -> Response:
        document = json.loads(request.get_data())
        x = np.asarray(document["input"], dtype=np.float32)
        return jsonify({"output": bare_layer_norm(x).tolist()})

    return app


def service_with_default_blas_threads() -> object:
    """The service with its training runs left on OpenBLAS's default thread count (the
    baseline of the lecture hall's BLAS row: what service/simulations/blas.py changes)."""
    import contextlib

    from service import create_app as create_service
    from service.simulations import training_runs

    training_runs.one_blas_thread = contextlib.nullcontext  # type: ignore[assignment]
    return create_service()
