"""Prometheus metrics at /metrics: requests and latency per endpoint, quiz submissions, and what
the composition root adds as scrape-time collectors (the outbox backlog).

Under gunicorn, set PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py does) so each worker writes its
samples to that directory and /metrics aggregates all workers.

The figures (traffic per endpoint, pass/fail counts, outbox backlog) are for operators: the
scraper sends `Authorization: Bearer <METRICS_TOKEN>` (compared in constant time); anyone else
gets a 401 problem, and without METRICS_TOKEN there are no metrics at all (404)."""

from __future__ import annotations

import hmac
import time
from collections.abc import Sequence

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from service.errors import NotFound, Unauthorized

SUBMISSION_ENDPOINT = "learners.Submission"


def install_metrics(
    app: Flask,
    multiprocess_dir: str | None,
    collectors: Sequence[Collector] = (),
    *,
    token: str | None,
) -> None:
    """Count requests; `collectors` are asked at every scrape, in this process; `token` is the
    scraper's bearer token (None: /metrics is 404)."""
    registry = CollectorRegistry()
    requests = Counter(
        "activation_lab_http_requests_total",
        "HTTP requests by endpoint and status",
        ["method", "endpoint", "status"],
        registry=registry,
    )
    latency = Histogram(
        "activation_lab_http_request_duration_seconds",
        "Request latency by endpoint",
        ["method", "endpoint"],
        registry=registry,
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    )
    submissions = Counter(
        "activation_lab_quiz_submissions_total",
        "Graded quiz submissions",
        ["passed"],
        registry=registry,
    )

    def start_timer() -> None:
        g.metrics_started = time.perf_counter()

    def record(response: Response) -> Response:
        rule = request.url_rule
        endpoint = rule.endpoint if rule else "unmatched"
        requests.labels(request.method, endpoint, str(response.status_code)).inc()
        started = g.get("metrics_started")
        if started is not None:
            latency.labels(request.method, endpoint).observe(time.perf_counter() - started)
        if (
            endpoint == SUBMISSION_ENDPOINT
            and response.status_code == 200
            and response.headers.get("Idempotent-Replayed") == "false"
        ):
            passed = (response.get_json(silent=True) or {}).get("passed")
            submissions.labels(str(bool(passed)).lower()).inc()
        return response

    def metrics() -> Response:
        _check_scraper(token)
        if multiprocess_dir:
            scrape = CollectorRegistry()
            MultiProcessCollector(scrape)
        else:
            scrape = registry
        body = generate_latest(scrape)
        for collector in collectors:
            body += generate_latest(_single(collector))
        return Response(
            body, mimetype=CONTENT_TYPE_LATEST.split(";")[0], headers={"Cache-Control": "no-store"}
        )

    app.before_request(start_timer)
    app.after_request(record)
    app.add_url_rule("/metrics", "metrics", metrics, methods=["GET"])


def _check_scraper(token: str | None) -> None:
    if not token:
        raise NotFound(
            "Metrics are not enabled on this server: set METRICS_TOKEN and scrape with "
            "`Authorization: Bearer <METRICS_TOKEN>`."
        )
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        raise Unauthorized(
            "Metrics are for the scraper: send `Authorization: Bearer <METRICS_TOKEN>`.",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )


def _single(collector: Collector) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(collector)
    return registry
