"""The outbox backlog as a Prometheus gauge, counted in the database when scraped (so every
worker reports the same)."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Flask
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from service.db import get_database
from service.outbox.services import backlog


class OutboxBacklog(Collector):
    """Gauge of outbox messages by status."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "activation_lab_outbox_messages", "Outbox messages by status", labels=["status"]
        )
        try:
            with self.app.app_context(), get_database(self.app).sessionmaker() as session:
                counts = backlog(session)
        except SQLAlchemyError:
            return  # database down: no sample rather than a failed scrape
        for status, count in counts.items():
            gauge.add_metric([status], count)
        yield gauge
