"""The job queue: Huey, with its storage chosen by configuration.

Embedded default: a SQLite file under instance/ (`JOBS_FILE`) that the web process
writes and `flask jobs worker` on the same machine reads, so `make run` needs no other
server. Several machines: Redis (`FIELDSVC_REDIS_URL`), shared by every app server and
worker. Tests run each job inside the call that queues it (`JOBS_IMMEDIATE`).

Tasks are declared once on the module-level `huey` (Huey's decorators need it at import
time); `init_app` points its storage at the app's configuration and remembers the app,
so a job that runs in the worker gets an application context.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any

from flask import Flask, has_app_context
from huey import Huey, RedisHuey, SqliteHuey
from huey import signals as S
from huey.storage import MemoryStorage

from fieldsvc.database import writing
from fieldsvc.ops import metrics
from fieldsvc.ops.readiness import register_readiness_check

huey = Huey("fieldsvc", results=False, storage_class=MemoryStorage)
_app: Flask | None = None


def init_app(app: Flask) -> None:
    """Point the queue at the app's storage: Redis, or the SQLite file."""
    global _app
    _app = app
    config = app.config
    if config["JOBS_REDIS_URL"]:
        huey.storage_class = RedisHuey.storage_class
        huey.storage_kwargs = {"url": config["JOBS_REDIS_URL"]}
    else:
        huey.storage_class = SqliteHuey.storage_class
        huey.storage_kwargs = {"filename": config["JOBS_FILE"]}
    # Huey keeps immediate mode's storage in memory and recreates it when the mode changes.
    huey._immediate = config["JOBS_IMMEDIATE"]
    huey.storage = huey.create_storage()
    app.extensions["huey"] = huey
    from fieldsvc.jobs import tasks  # noqa: F401  (registers the tasks on `huey`)


def describe() -> str:
    """Where jobs are queued, in words for the worker's banner and the logs."""
    if huey.immediate:
        return "immediately, in the process that queues them"
    kwargs = huey.storage_kwargs
    if "url" in kwargs:
        return f"Redis at {_without_password(kwargs['url'])}"
    return f"the SQLite file {kwargs['filename']}"


@contextmanager
def app_context() -> Iterator[None]:
    """The app's context for a job: the caller's in immediate mode, else a new one."""
    if has_app_context():
        yield
        return
    if _app is None:
        raise RuntimeError("fieldsvc.jobs.queue.init_app() was not called")
    with _app.app_context():
        yield


def in_app_context(function: Callable[..., Any]) -> Callable[..., Any]:
    """Run a job's body inside the app context (whose end closes its database session),
    its transactions taking SQLite's write lock up front: jobs write beside requests."""

    @wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        with app_context(), writing():
            return function(*args, **kwargs)

    return run


def _without_password(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


# --- what /readyz and /metrics ask of the queue --------------------------------------------


def check_queue() -> None:
    """The queue's storage answers: Redis, or the SQLite file."""
    huey.pending_count()


@huey.signal(S.SIGNAL_ERROR)
def _count_failure(signal: str, task: Any, exc: BaseException | None = None) -> None:
    """A job that raised, counted in the process that ran it (the worker's figures reach
    Prometheus when it shares PROMETHEUS_MULTIPROC_DIR with the app's workers)."""
    metrics.JOB_FAILURES.labels(job=task.name).inc()


register_readiness_check("queue", check_queue)
metrics.register_gauge(
    "fieldsvc_jobs_waiting", "Jobs queued and not yet run.", lambda: huey.pending_count()
)
