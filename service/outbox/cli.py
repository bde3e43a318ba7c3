"""`flask outbox run|status`: the delivery worker and the backlog by status."""

from __future__ import annotations

import signal
import time
from types import FrameType

import click
from flask.cli import AppGroup

from service.db import get_database
from service.outbox import queue, services
from service.outbox.wiring import app_outbox, delivery_context

outbox_cli = AppGroup("outbox", help="Deliver LMS grades and xAPI statements.")


@outbox_cli.command("run")
@click.option("--once", is_flag=True, help="Deliver one batch of due messages and exit")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between polls")
@click.option("--batch", default=20, show_default=True, help="Messages claimed per batch")
def run_command(once: bool, interval: float, batch: int) -> None:
    """Deliver due messages (LMS grades, xAPI statements), retrying failures with backoff.
    Several workers may run at once; SIGTERM stops after the current batch."""
    context, handlers = delivery_context(), app_outbox().handlers
    if once:
        click.echo(_summary(queue.deliver_due(context, handlers, limit=batch)))
        return
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(f"outbox worker polling every {interval:g}s", err=True)
    for report in queue.run_worker(
        context,
        handlers,
        interval_seconds=interval,
        stop=lambda: stopping,
        sleep=time.sleep,
        limit=batch,
    ):
        if report.claimed:
            click.echo(_summary(report))


@outbox_cli.command("status")
def status_command() -> None:
    """Count messages by status."""
    with get_database().sessionmaker() as session:
        counts = services.backlog(session)
    for status, count in counts.items():
        click.echo(f"{status}\t{count}")


def _summary(report: queue.DeliveryReport) -> str:
    return f"delivered {report.delivered}, retrying {report.retrying}, failed {report.failed}"
