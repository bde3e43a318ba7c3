"""gunicorn worker settings chosen by measurement: gthread (4 and 2 threads) against sync.

Every setting serves the hello-world baseline and the service (SQLite) with 2 workers, all at
once, and the rounds are interleaved across settings, so that the machine's changing load hits
them alike. The quiz flow and GET quiz run at 32 clients, the .npy normalize request (256K
elements) at 4; each figure is read next to the same setting's hello world.
"""

from __future__ import annotations

from bench.client import Flow, LoadResult, Recorder, run_mixed
from bench.common import Context, Table, prepare_database, sqlite_url
from bench.normalize import activations, npy_bytes
from bench.quizzes import Target, get_quiz_flow, hello_flow, measure, quiz_flow
from bench.server import Server, serving
from bench.stats import median

SETTINGS = (("gthread", "4"), ("gthread", "2"), ("sync", "1"))


def normalize_flow() -> Flow:
    body = npy_bytes(activations((16, 256, 64)))
    headers = {"Content-Type": "application/x-npy", "Accept": "application/x-npy"}

    async def flow(recorder: Recorder) -> bool:
        await recorder.call("POST", "/v1/normalize/layer", body, headers)
        return True

    return flow


def monte_carlo_flow() -> Flow:
    from bench.propagation import monte_carlo_body

    body = monte_carlo_body()
    headers = {"Content-Type": "application/json"}

    async def flow(recorder: Recorder) -> bool:
        await recorder.call("POST", "/v1/simulations/propagation", body, headers)
        return True

    return flow


def live_flow() -> Flow:
    async def flow(recorder: Recorder) -> bool:
        await recorder.call("GET", "/health/live")
        return True

    return flow


def _label(worker_class: str, threads: str) -> str:
    return f"{worker_class} x{threads}" if worker_class == "gthread" else worker_class


def run(context: Context) -> None:
    servers: list[Server] = []
    pairs: dict[str, tuple[Server, Server]] = {}
    for worker_class, threads in SETTINGS:
        database = sqlite_url(context, f"workers-{worker_class}-{threads}")
        prepare_database(context, database)
        env = {"GUNICORN_WORKER_CLASS": worker_class, "GUNICORN_THREADS": threads}
        hello = context.baseline(f"hello-{worker_class}-{threads}", **env)
        service = context.service(f"service-{worker_class}-{threads}", database, **env)
        pairs[_label(worker_class, threads)] = (hello, service)
        servers += [hello, service]
    context.say(f"workers: {', '.join(pairs)} (interleaved)")
    seconds = context.reps(2.5, 1.5)
    with serving(*servers):
        concurrent: list[Target] = []
        light: list[Target] = []
        for label, (hello, service) in pairs.items():
            concurrent += [
                Target(f"{label}/hello", hello, hello_flow()),
                Target(f"{label}/quiz", service, quiz_flow(), 3),
                Target(f"{label}/get", service, get_quiz_flow()),
            ]
            light.append(Target(f"{label}/normalize", service, normalize_flow()))
        results = measure(
            context, concurrent, clients=32, rounds=context.reps(2, 1), seconds=seconds
        )
        results.update(measure(context, light, clients=4, rounds=1, seconds=seconds))
        # Light requests while 2 clients keep both workers busy with Monte Carlo runs.
        blocked: dict[str, LoadResult] = {}
        for label, (_, service) in pairs.items():
            _, probes = run_mixed(
                service.port,
                [(monte_carlo_flow(), 2), (live_flow(), 4)],
                duration_s=context.reps(4.0, 2.0),
            )
            blocked[label] = probes
    table = Table(
        "gunicorn worker settings (2 workers each, all running, rounds interleaved across "
        "settings; SQLite; req/s, p99 ms in brackets)",
        [
            "setting",
            "hello (32)",
            "quiz flow (32)",
            "GET quiz (32)",
            "normalize .npy 256K (4)",
            "/health/live beside 2 Monte Carlo clients (4)",
            "quiz / hello",
            "GET / hello",
            "errors",
        ],
    )
    for label in pairs:
        mine: dict[str, list[LoadResult]] = {
            key.split("/", 1)[1]: runs for key, runs in results.items() if key.startswith(label)
        }
        rps = {k: median([r.rps for r in v]) for k, v in mine.items()}
        p99 = {k: median([r.percentile(99) for r in v]) * 1e3 for k, v in mine.items()}
        errors = sum(r.errors for v in mine.values() for r in v)
        table.rows.append(
            [
                label,
                *(f"{rps[k]:.0f} ({p99[k]:.0f})" for k in ("hello", "quiz", "get", "normalize")),
                f"{blocked[label].rps:.0f} ({blocked[label].percentile(99) * 1e3:.0f})",
                f"{rps['quiz'] / rps['hello']:.3f}",
                f"{rps['get'] / rps['hello']:.3f}",
                str(errors),
            ]
        )
    context.tables.append(table)
