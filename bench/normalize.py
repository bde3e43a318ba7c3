"""Goal 1: normalizing 1M float32 activations (64 x 256 x 64, layer norm over the last axis).

- .npy path against a bare Flask endpoint (np.load, the bare numpy, np.save);
- JSON path against a naive Flask endpoint (stdlib json, np.asarray, tolist, jsonify);
- in process, each variant's fused kernels, forward and backward, against torch.nn.functional
  (checked equal), and the kernels' cold start (`normalize_kernels`);
- peak memory of one .npy request (tracemalloc around the app's test client).
"""

from __future__ import annotations

import io
import tracemalloc

import numpy as np
import orjson

from bench import normalize_kernels
from bench.client import Http
from bench.common import Check, Context, sqlite_url
from bench.server import serving
from bench.stats import Ratio, interleave, median, pair_ratio

SHAPE = (64, 256, 64)
NPY = "application/x-npy"
RTOL, ATOL = 1e-4, 1e-5


def activations(shape: tuple[int, ...] = SHAPE, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def json_body(array: np.ndarray) -> bytes:
    return orjson.dumps({"input": array}, option=orjson.OPT_SERIALIZE_NUMPY)


# --- peak memory ------------------------------------------------------------------------------


def peak_request_memory(context: Context, body: bytes, content_type: str, accept: str) -> int:
    """Peak bytes traced while the app handles one request (body bytes made beforehand)."""
    from service import create_app
    from service.config import Settings

    settings = Settings.from_env(
        context.base_env,
        database_url=sqlite_url(context, "memory"),
        secret_key="bench-" + "0" * 40,
        rate_limits_enabled=False,
        log_level="WARNING",
    )
    app = create_app(settings)
    client = app.test_client()
    headers = {"Accept": accept}
    warm = client.post("/v1/normalize/layer", data=body, content_type=content_type, headers=headers)
    assert warm.status_code == 200, warm.data[:300]
    del warm
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start, _ = tracemalloc.get_traced_memory()
        response = client.post(
            "/v1/normalize/layer", data=body, content_type=content_type, headers=headers
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 200
    return peak - start


# --- the scenario -----------------------------------------------------------------------------


def run(context: Context) -> None:
    x = activations()
    payload = x.size * 4
    context.say(f"normalize: in-process kernels vs torch on {SHAPE} float32, forward and backward")
    grad_output = activations(seed=1)
    rows = normalize_kernels.compare_with_torch(
        x, grad_output, rounds=context.reps(30, 12), budget_s=context.reps(4, 1.5)
    )
    normalize_kernels.report(context, rows)

    npy_body = npy_bytes(x)
    body = json_body(x)
    service = context.service("normalize-service", sqlite_url(context, "normalize"))
    baseline = context.baseline()
    with serving(service, baseline):
        ours, bare = Http(service.port), Http(baseline.port)
        npy_headers = {"Content-Type": NPY, "Accept": NPY}
        json_headers = {"Content-Type": "application/json", "Accept": "application/json"}
        _check_outputs(ours, bare, npy_body, body, npy_headers, json_headers, context)
        context.say("normalize: .npy path")
        samples = interleave(
            {
                "service": ours.timed("POST", "/v1/normalize/layer", npy_body, npy_headers),
                "bare": bare.timed("POST", "/npy/layer", npy_body, npy_headers),
            },
            repeats=context.reps(25, 10),
            budget_s=context.reps(10, 4),
        )
        _, noise = pair_ratio(samples["service"], samples["bare"])
        context.ratios.append(
            Ratio(
                "1 normalize",
                ".npy request, service / bare Flask + numpy",
                "POST /v1/normalize/layer (npy)",
                "bare np.load + numpy + np.save",
                median(samples["service"]) * 1e3,
                median(samples["bare"]) * 1e3,
                goal=1.5,
                noise=noise,
            )
        )
        context.say("normalize: JSON path")
        samples = interleave(
            {
                "service": ours.timed("POST", "/v1/normalize/layer", body, json_headers),
                "naive": bare.timed("POST", "/naive/layer", body, json_headers),
            },
            repeats=context.reps(7, 3),
            budget_s=context.reps(20, 6),
        )
        _, noise = pair_ratio(samples["service"], samples["naive"])
        context.ratios.append(
            Ratio(
                "1 normalize",
                "JSON request, service / naive Flask (2x faster)",
                "POST /v1/normalize/layer (JSON)",
                "naive stdlib json + tolist",
                median(samples["service"]) * 1e3,
                median(samples["naive"]) * 1e3,
                goal=0.5,
                noise=noise,
                note=f"body {len(body) / 1e6:.1f} MB",
            )
        )
        ours.close()
        bare.close()
    normalize_kernels.cold_start(context, npy_body)

    context.say("normalize: peak memory of one request (tracemalloc)")
    peak = peak_request_memory(context, npy_body, NPY, NPY)
    context.checks.append(
        Check(
            "1 normalize",
            "peak memory, one 1M-element .npy request",
            f"{peak / payload:.2f}x payload ({peak / 2**20:.1f} MiB)",
            "< 6x payload (float32 size)",
            peak < 6 * payload,
            note="tracemalloc peak while the app handles the request; the body bytes are "
            "made before tracing starts",
        )
    )
    json_peak = peak_request_memory(context, body, "application/json", "application/json")
    context.checks.append(
        Check(
            "1 normalize",
            "peak memory, one 1M-element JSON request (information)",
            f"{json_peak / payload:.1f}x payload ({json_peak / 2**20:.0f} MiB)",
            "none",
            True,
        )
    )


def _check_outputs(
    ours: Http,
    bare: Http,
    npy_body: bytes,
    body: bytes,
    npy_headers: dict[str, str],
    json_headers: dict[str, str],
    context: Context,
) -> None:
    """The service and the baselines must compute the same thing before they are compared."""
    _, _, service_npy = ours.request("POST", "/v1/normalize/layer", npy_body, npy_headers)
    _, _, bare_npy = bare.request("POST", "/npy/layer", npy_body, npy_headers)
    a = np.load(io.BytesIO(service_npy))
    b = np.load(io.BytesIO(bare_npy))
    _, _, service_json = ours.request("POST", "/v1/normalize/layer", body, json_headers)
    c = np.asarray(orjson.loads(service_json)["output"], dtype=np.float32)
    equal = (
        a.dtype == np.float32
        and np.allclose(a, b, rtol=RTOL, atol=ATOL)
        and np.allclose(a, c, rtol=RTOL, atol=ATOL)
    )
    context.checks.append(
        Check(
            "1 normalize",
            "service .npy and JSON outputs equal the bare baseline's",
            f"max |diff| {float(np.max(np.abs(a - b))):.1e}, dtype {a.dtype}",
            "allclose, float32",
            bool(equal),
        )
    )
