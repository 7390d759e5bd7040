"""The real job queue (Huey on a SQLite file, as `make run` uses it) instead of the
suite's jobs-run-inline default; `worker` runs what is queued, as `flask jobs worker` would."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from flask import Flask
from freezegun import freeze_time

from fieldsvc.jobs import queue
from fieldsvc.jobs.queue import huey


class Worker:
    """Runs queued jobs in this process, one at a time (a consumer without threads)."""

    def run_queued(self) -> int:
        """Run every job waiting in the queue; how many ran."""
        ran = 0
        while (task := huey.dequeue()) is not None:
            huey.execute(task)
            ran += 1
        return ran

    def run_due(self, at: datetime) -> int:
        """At the moment `at`, run the jobs scheduled up to then (retries after their wait)."""
        moment = at.astimezone(UTC).replace(tzinfo=None)  # Huey's clock: naive UTC
        due = huey.read_schedule(moment)
        with freeze_time(at):
            for task in due:
                huey.execute(task, timestamp=moment)
        return len(due)

    def scheduled_at(self) -> list[datetime]:
        return sorted(task.eta for task in huey.scheduled())


@pytest.fixture
def worker(app: Flask, tmp_path) -> Iterator[Worker]:
    app.config.update(JOBS_IMMEDIATE=False, JOBS_FILE=str(tmp_path / "jobs.sqlite3"))
    queue.init_app(app)
    try:
        yield Worker()
    finally:
        app.config.update(JOBS_IMMEDIATE=True)
        queue.init_app(app)
