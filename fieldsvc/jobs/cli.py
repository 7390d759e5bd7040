"""`flask --app fieldsvc jobs worker`: runs queued jobs and the periodic scheduler."""

import logging

import click
from flask import Blueprint, current_app

from fieldsvc.jobs import queue

bp = Blueprint("jobs", __name__, cli_group="jobs")


@bp.cli.command("worker")
@click.option(
    "--workers", type=click.IntRange(1, 64), default=2, show_default=True, help="Job threads."
)
@click.option(
    "--periodic/--no-periodic",
    default=True,
    show_default=True,
    help="Also schedule the periodic jobs (reminders, expiry, anchoring, the outbox sweep). "
    "Every worker may; a lock runs each once at a time.",
)
def worker(workers: int, periodic: bool) -> None:
    """Run jobs from the queue until stopped (Ctrl-C or SIGTERM finishes the running ones)."""
    if queue.huey.immediate:
        raise click.ClickException(
            "FIELDSVC_JOBS_IMMEDIATE is on: jobs run where they are queued, there is no queue"
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    click.echo(
        f"fieldsvc jobs worker: {workers} thread(s), jobs from {queue.describe()}, "
        f"database {current_app.config['SQLALCHEMY_DATABASE_URI'].split('@')[-1]}"
        + ("" if periodic else ", periodic jobs off")
    )
    consumer = queue.huey.create_consumer(
        workers=workers, worker_type="thread", periodic=periodic, graceful_signal="TERM"
    )
    consumer.run()
