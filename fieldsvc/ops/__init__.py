"""Watching a running fieldsvc: health and readiness checks, Prometheus metrics, and a
log line with a request id for every request."""

import time

from flask import Flask, Response, g, request

from fieldsvc.ops import logs, metrics
from fieldsvc.ops.logs import App
from fieldsvc.ops.readiness import NotReady, register_readiness_check

__all__ = ["App", "NotReady", "init_app", "register_readiness_check"]


def init_app(app: Flask) -> None:
    logs.init_app(app)
    # First of all before-request functions, so the time counted includes theirs.
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_finish)


def _start() -> None:
    g.request_started = time.perf_counter()
    g.request_id = logs.request_id_from(request.headers.get(logs.REQUEST_ID_HEADER))


def _finish(response: Response) -> Response:
    if "request_started" not in g:  # a before-request function failed before ours ran
        _start()
    seconds = time.perf_counter() - g.request_started
    response.headers[logs.REQUEST_ID_HEADER] = g.request_id
    metrics.observe(request.endpoint, request.method, response.status_code, seconds)
    logs.log_request(response.status_code, seconds * 1000)
    return response
