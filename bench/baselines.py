"""Bare Flask apps that the service is measured against, served by the same gunicorn config.

    gunicorn --config gunicorn.conf.py "bench.baselines:create_app()"

/hello            hello world (text)
/bytes/<n>        n bytes of JSON-shaped filler, built once: a bare request with the same
                  response size as the service's
/npy/layer        .npy in, np.load, bare layer norm over the last axis, np.save out
/naive/layer      stdlib json in, np.asarray, the same numpy, tolist, jsonify out
"""

from __future__ import annotations

import functools
import io
import json

import numpy as np
from flask import Flask, Response, jsonify, request
from flask.json.provider import DefaultJSONProvider

EPS = 1e-5


def bare_layer_norm(x: np.ndarray, eps: float = EPS) -> np.ndarray:
    """(x - mean) / sqrt(var + eps) over the last axis, in x's dtype: the textbook numpy."""
    mean = x.mean(axis=-1, keepdims=True)
    centered = x - mean
    var = np.mean(centered * centered, axis=-1, keepdims=True)
    return np.asarray(centered / np.sqrt(var + x.dtype.type(eps)))


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

    @app.post("/naive/layer")
    def naive_layer() -> Response:
        document = json.loads(request.get_data())
        x = np.asarray(document["input"], dtype=np.float32)
        return jsonify({"output": bare_layer_norm(x).tolist()})

    return app
