"""Goal 2: variance propagation.

- Monte Carlo (depth 50, width 512, batch 512, ReLU) against the bare numpy chain (same shapes,
  same generator, in process) plus a bare request with a response of the same size;
- analytic, 10,000 layers, against a bare request with a response of the same size (the goal:
  under 5% on top), with the in-process numerics timed apart.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import orjson

from bench.client import Http
from bench.common import Check, Context, sqlite_url
from bench.server import serving
from bench.stats import Ratio, interleave, median, pair_ratio, timed

MC_DEPTH, MC_WIDTH, MC_BATCH = 50, 512, 512
ANALYTIC_DEPTH = 10_000
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


def monte_carlo_body(depth: int = MC_DEPTH, width: int = MC_WIDTH, batch: int = MC_BATCH) -> bytes:
    return orjson.dumps(
        {
            "mode": "monte_carlo",
            "depth": depth,
            "width": width,
            "batch_size": batch,
            "activation": "relu",
            "weight_variance": 2.0 / width,
            "seed": 7,
        }
    )


def analytic_body(depth: int = ANALYTIC_DEPTH, activation: str = "relu") -> bytes:
    return orjson.dumps(
        {
            "mode": "analytic",
            "depth": depth,
            "width": 512,
            "weight_variance": 2.0 / 512,
            "activation": activation,
        }
    )


def bare_chain(depth: int = MC_DEPTH, width: int = MC_WIDTH, batch: int = MC_BATCH) -> float:
    """The bare numpy forward pass: the same generator and draws, h = relu(h Wᵀ)."""
    rng = np.random.Generator(np.random.PCG64(7))
    h = rng.standard_normal((batch, width))
    weights = np.empty((width, width))
    std = math.sqrt(2.0 / width)
    for _ in range(depth):
        rng.standard_normal(out=weights)
        weights *= std
        h = h @ weights.T
        np.maximum(h, 0.0, out=h)
    return float(h.var())


def run(context: Context) -> None:
    service = context.service("propagation-service", sqlite_url(context, "propagation"))
    baseline = context.baseline()
    with serving(service, baseline):
        ours, bare = Http(service.port), Http(baseline.port)
        path = "/v1/simulations/propagation"

        body = monte_carlo_body()
        _, _, answer = ours.request("POST", path, body, JSON_HEADERS)
        size = len(answer)
        context.say(f"propagation: Monte Carlo {MC_DEPTH}x{MC_WIDTH}x{MC_BATCH} ({size} B)")
        samples = interleave(
            {
                "service": ours.timed("POST", path, body, JSON_HEADERS),
                "chain": timed(bare_chain),
                "bare": bare.timed("GET", f"/bytes/{size}"),
            },
            repeats=context.reps(9, 4),
            budget_s=context.reps(25, 8),
        )
        baseline_samples = [c + b for c, b in zip(samples["chain"], samples["bare"], strict=True)]
        _, noise = pair_ratio(samples["service"], baseline_samples)
        context.ratios.append(
            Ratio(
                "2 propagation",
                "Monte Carlo request / (bare numpy chain + bare request)",
                "POST propagation (monte_carlo)",
                "numpy chain + same-size bare request",
                median(samples["service"]) * 1e3,
                (median(samples["chain"]) + median(samples["bare"])) * 1e3,
                goal=1.3,
                noise=noise,
                note=f"chain {median(samples['chain']) * 1e3:.0f} ms, bare request "
                f"{median(samples['bare']) * 1e3:.1f} ms",
            )
        )

        body = analytic_body()
        _, _, answer = ours.request("POST", path, body, JSON_HEADERS)
        size = len(answer)
        context.say(f"propagation: analytic {ANALYTIC_DEPTH} layers ({size / 1e6:.1f} MB)")
        samples = interleave(
            {
                "service": ours.timed("POST", path, body, JSON_HEADERS),
                "bare": bare.timed("GET", f"/bytes/{size}"),
            },
            repeats=context.reps(15, 6),
            budget_s=context.reps(15, 5),
        )
        _, noise = pair_ratio(samples["service"], samples["bare"])
        numerics = analytic_numerics(ANALYTIC_DEPTH, rounds=context.reps(15, 5))
        context.ratios.append(
            Ratio(
                "2 propagation",
                f"analytic {ANALYTIC_DEPTH} layers, request / same-size bare request",
                "POST propagation (analytic)",
                "same-size bare request",
                median(samples["service"]) * 1e3,
                median(samples["bare"]) * 1e3,
                goal=1.05,
                noise=noise,
                note=f"response {size / 1e6:.1f} MB; in process: numerics "
                f"{numerics['numerics'] * 1e3:.1f} ms, response dict "
                f"{numerics['response'] * 1e3:.1f} ms, schema dump {numerics['dump'] * 1e3:.1f} ms,"
                f" orjson {numerics['orjson'] * 1e3:.1f} ms",
            )
        )
        ours.close()
        bare.close()
    core_us, whole_us = vectorized_check()
    context.checks.append(
        Check(
            "2 propagation",
            "analytic linear/relu, 10,000 layers: no Python loop per layer",
            f"variance recurrence {core_us:.3f} µs per layer; whole numerics {whole_us:.2f} µs "
            "per layer",
            "recurrence < 0.5 µs per layer (a Python loop costs several µs)",
            core_us < 0.5,
            note="the whole numerics include building one LayerStats object per layer",
        )
    )


def analytic_numerics(depth: int, rounds: int) -> dict[str, float]:
    """In process: the numerics, the response dict, the schema dump and orjson, timed apart."""
    from service.jsonio import dumps_bytes
    from service.numerics.network import build_network_spec
    from service.numerics.propagation import analytic_propagation
    from service.simulations import schemas, services

    spec = build_network_spec(depth=depth, width=512, weight_variance=2.0 / 512, activation="relu")
    result = analytic_propagation(spec)
    response = services._response(result)
    schema = schemas.PropagationResultSchema()
    dumped = schema.dump(response)
    samples = interleave(
        {
            "numerics": timed(lambda: analytic_propagation(spec)),
            "response": timed(lambda: services._response(result)),
            "dump": timed(lambda: schema.dump(response)),
            "orjson": timed(lambda: dumps_bytes(dumped)),
        },
        repeats=rounds,
        budget_s=5,
    )
    return {name: median(values) for name, values in samples.items()}


def vectorized_check() -> tuple[float, float]:
    """(µs per layer of the variance recurrence, µs per layer of the whole analytic numerics),
    relu without normalization, 10,000 layers."""
    from service.numerics import propagation
    from service.numerics.network import build_network_spec

    spec = build_network_spec(depth=10_000, width=512, weight_variance=2.0 / 512, activation="relu")

    def best(function: Callable[[], object]) -> float:
        times = []
        for _ in range(7):
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
        return min(times) / spec.depth * 1e6

    whole = best(lambda: propagation.analytic_propagation(spec))
    recurrence = getattr(propagation, "_vectorized_linear_family", None)
    fan_scales = getattr(propagation, "_fan_scales", None)
    if recurrence is None or fan_scales is None:  # internals renamed: the whole numerics
        return whole, whole
    scales = fan_scales(spec)
    return best(lambda: recurrence(spec, scales)), whole
