"""Goal 5: the lecture hall (issue 17). 300 learners press start on the training page's default
preset within a few seconds; a run is a pure function of its spec, so the service should pay
for about one run, not 300.

Subject: 300 concurrent `POST /v1/simulations/training` (Accept: text/event-stream, HTTP/1.0 so
that each body arrives unframed) with the page's default preset, against gunicorn (2 workers,
gthread x4, the project's config), with REDIS_URL (the shared store, finished runs and
coalescing across the workers) and without (each process shares its own runs). Baseline: one
such request alone on the same server. Each side uses a seed no earlier run used, so nothing
is stored beforehand. Reported: the slowest learner's wait (from its own start to its last
byte) / one learner's alone, with the median wait and the wall time from the first start to the
last answer (which includes the 1 s window); and the number of runs the workers actually
computed (their log's "training run <key> started" lines for the spec's key).
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import orjson

from bench.common import Check, Context, sqlite_url
from bench.server import HOST, Server, serving
from bench.stats import Ratio, interleave, median, pair_ratio

REDIS_URL = "redis://127.0.0.1:6379/0"
PATH = "/v1/simulations/training"
# The Training tab's defaults (service/web/index.html): the lesson's classic comparison.
PRESET: dict[str, Any] = {
    "dataset": {"name": "digits"},
    "hidden_widths": [100, 100, 100],
    "activation": "sigmoid",
    "init": "custom",
    "weight_variance": 0.01,
    "normalization": "none",
    "compare": ["batch"],
    "optimizer": {"name": "sgd", "learning_rate": 0.5, "momentum": 0.9},
    "batch_size": 60,
    "steps": 300,
    "log_every": 10,
}
LEARNERS = 300
WINDOW_S = 1.0  # the requests start over this window (shorter than one run: they overlap it)


def _fresh_spec() -> dict[str, Any]:
    return {**PRESET, "seed": random.SystemRandom().randrange(2**32)}


def _key_prefix(spec: dict[str, Any]) -> str:
    from service.numerics.training import build_training_spec
    from service.simulations.training_events import spec_echo
    from service.simulations.training_store import RunKeys

    return RunKeys().key(spec_echo(build_training_spec(**spec)))[:12]


async def _learner(port: int, body: bytes, delay: float) -> tuple[int, bytes, float]:
    """(status, events, seconds from this learner's start to its last byte)."""
    await asyncio.sleep(delay)
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(HOST, port)
    head = (
        f"POST {PATH} HTTP/1.0\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
        f"Accept: text/event-stream\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    writer.write(head + body)
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), timeout=600)
    waited = time.perf_counter() - started
    writer.close()
    status_line, _, rest = response.partition(b"\r\n")
    _, _, payload = rest.partition(b"\r\n\r\n")
    # Heartbeat comments depend on timing; the events must be the same for everyone.
    events = b"\n".join(line for line in payload.split(b"\n") if not line.startswith(b":"))
    return int(status_line.split()[1]), events, waited


def _hall(server: Server, learners: int) -> tuple[float, list[tuple[int, bytes, float]], str]:
    """(wall time from the first start to the last answer, each learner's answer, the key)."""
    spec = _fresh_spec()
    body = orjson.dumps(spec)
    rng = random.Random(0)
    delays = sorted(rng.uniform(0, WINDOW_S) for _ in range(learners)) if learners > 1 else [0.0]

    async def everyone() -> list[tuple[int, bytes, float]]:
        return await asyncio.gather(*(_learner(server.port, body, d) for d in delays))

    started = time.perf_counter()
    answers = asyncio.run(everyone())
    return time.perf_counter() - started, answers, _key_prefix(spec)


def _runs(server: Server, key: str) -> int:
    return server.log_path.read_text(errors="replace").count(f"training run {key} started")


def _redis_available() -> bool:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception:
        return False
    return True


def _forget(keys: list[str]) -> None:
    """Delete the bench's runs from the shared Redis (keys are 64 hex digits; we know 12)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for key in keys:
        for name in client.scan_iter(f"activation-lab:training:*:{key}*"):
            client.delete(name)


def measure(context: Context, *, shared: bool) -> None:
    label = "Redis (shared store)" if shared else "no Redis (per-process)"
    env = {"LOG_LEVEL": "INFO"}
    if shared:
        env["REDIS_URL"] = REDIS_URL
    name = "lecture-hall-redis" if shared else "lecture-hall-local"
    server = context.service(name, sqlite_url(context, name), **env)
    learners = context.reps(LEARNERS, 100)
    keys: list[str] = []
    with serving(server):
        context.say(f"lecture hall, {label}: one learner")
        _, answers, key = _hall(server, 1)
        alone = answers[0][2]
        keys.append(key)
        context.say(f"lecture hall, {label}: {learners} learners")
        wall, answers, key = _hall(server, learners)
        keys.append(key)
        runs = _runs(server, key)
    if shared:
        _forget(keys)
    statuses = sorted({status for status, _, _ in answers})
    same = len({events for _, events, _ in answers}) == 1
    waits = sorted(waited for _, _, waited in answers)
    context.ratios.append(
        Ratio(
            "5 lecture hall",
            f"{learners} learners start the default preset within {WINDOW_S:.0f} s, "
            f"{label}: the slowest learner's wait / one learner alone",
            f"{learners} concurrent event streams",
            "one event stream alone",
            waits[-1] * 1e3,
            alone * 1e3,
            # Without Redis each of the 2 workers computes the run once: 2 runs on 2 cores.
            goal=2.0 if shared else 3.0,
            noise=0.0,
            note=f"{runs} run(s) computed; median wait {median(waits) * 1e3:.0f} ms; all "
            f"answered {wall * 1e3:.0f} ms after the first start; each answer "
            f"{len(answers[0][1]) / 1e3:.0f} kB",
        )
    )
    context.checks.append(
        Check(
            "5 lecture hall",
            f"{label}: runs computed for {learners} identical requests",
            f"{runs}",
            "1 with Redis; <= 2 (one per worker) without",
            runs <= (1 if shared else 2),
        )
    )
    context.checks.append(
        Check(
            "5 lecture hall",
            f"{label}: every learner got 200 and the same events",
            f"statuses {statuses}, identical {same}",
            "all 200, identical",
            statuses == [200] and same,
        )
    )


def _distinct_runs(server: Server, clients: int) -> float:
    """Wall time of `clients` different runs (the preset without compare, distinct seeds) at
    once: every request thread of both workers computing."""
    bodies = [orjson.dumps({**_fresh_spec(), "compare": []}) for _ in range(clients)]

    async def everyone() -> list[tuple[int, bytes, float]]:
        return await asyncio.gather(*(_learner(server.port, body, 0.0) for body in bodies))

    started = time.perf_counter()
    answers = asyncio.run(everyone())
    if any(status != 200 for status, _, _ in answers):
        raise RuntimeError(f"statuses {sorted({status for status, _, _ in answers})}")
    return time.perf_counter() - started


def measure_blas(context: Context) -> None:
    """One BLAS thread while runs compute (service/simulations/blas.py) against OpenBLAS's
    default thread count, on two servers of the same config, rounds interleaved."""
    clients = 4
    limited = context.service("blas-one", sqlite_url(context, "blas-one"))
    default = context.server(
        "blas-default",
        "bench.baselines:service_with_default_blas_threads()",
        DATABASE_URL=sqlite_url(context, "blas-default"),
    )
    with serving(limited):
        default.start(ready_path="/health/live")  # serving() expects /hello of a bare app
        try:
            context.say(f"lecture hall: {clients} distinct runs at once, BLAS 1 vs default")
            samples = interleave(
                {
                    "one": lambda: _distinct_runs(limited, clients),
                    "default": lambda: _distinct_runs(default, clients),
                },
                repeats=context.reps(5, 3),
                budget_s=context.reps(120, 60),
            )
        finally:
            default.stop()
    _, noise = pair_ratio(samples["one"], samples["default"])
    context.ratios.append(
        Ratio(
            "5 lecture hall",
            f"{clients} different runs at once (300 steps each, 2 workers x 4 threads): "
            "one BLAS thread while computing / OpenBLAS's default threads",
            "service",
            "service without the limit",
            median(samples["one"]) * 1e3,
            median(samples["default"]) * 1e3,
            goal=1.0,
            noise=noise,
        )
    )


def run(context: Context) -> None:
    measure_blas(context)
    if _redis_available():
        measure(context, shared=True)
    else:
        context.notes.append("lecture hall: no Redis at 127.0.0.1:6379, shared row skipped")
    measure(context, shared=False)
