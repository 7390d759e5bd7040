"""What Flask-Limiter costs a page that has no limit, per request, in microseconds.

One app as `create_app` builds it, with a route of its own that has no limit and does
nothing (`/bench-unlimited`, answering "ok"). Inside one request to it, the limiter's
hooks that Flask would run for that request (app-wide ones and those of the request's
blueprints: before, after, teardown) are called in a loop, alone, so their cost is
measured without the rest of the request around it (a whole test-client request costs
~1.5 ms here, and its noise is larger than the hooks). The median of ROUNDS rounds is
printed. Then REQUESTS whole requests are sent to the page and the calls they made to
the limiter's storage are counted: a page with no limit should make none.

    .venv/bin/python benchmarks/rate_limit_hooks.py [ROUNDS, default 15] [REQUESTS, default 200]
"""

import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import flask_migrate
from flask import request

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fieldsvc import create_app
from fieldsvc.extensions import db, limiter
from tests.conftest import test_config

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 15
REQUESTS = int(sys.argv[2]) if len(sys.argv) > 2 else 200
CALLS = 20_000  # hook runs a round


def _is_limiters(hook) -> bool:
    hook = getattr(hook, "__wrapped__", hook)  # fieldsvc.rate_limits runs it for some requests
    owner = getattr(hook, "__self__", None) or getattr(
        getattr(hook, "func", None), "__self__", None
    )
    return owner is limiter or limiter in getattr(hook, "args", ())


def _hooks_for_this_request(app, registry: dict) -> list:
    """The hooks Flask runs for the current request from `registry`, the limiter's only."""
    scopes = (None, *reversed(request.blueprints))
    return [hook for scope in scopes for hook in registry.get(scope, ()) if _is_limiters(hook)]


def main() -> None:
    logging.disable(logging.INFO)
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(test_config(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", TESTING=False))
        with app.app_context():
            flask_migrate.upgrade()
        app.add_url_rule("/bench-unlimited", "bench_unlimited", lambda: "ok")

        with app.test_request_context("/bench-unlimited"):
            before = _hooks_for_this_request(app, app.before_request_funcs)
            after = _hooks_for_this_request(app, app.after_request_funcs)
            teardown = _hooks_for_this_request(app, app.teardown_request_funcs)
            response = app.make_response("ok")
            rounds = []
            for _ in range(ROUNDS):
                started = time.perf_counter()
                for _ in range(CALLS):
                    for hook in before:
                        hook()
                    for hook in after:
                        hook(response)
                    for hook in teardown:
                        hook(None)
                rounds.append((time.perf_counter() - started) / CALLS * 1e6)

        touched = []
        storage = limiter.storage
        for method in ("get", "incr", "clear", "get_expiry", "get_moving_window", "check"):
            if hasattr(storage, method):
                original = getattr(storage, method)

                def noting(*args, _original=original, _method=method, **kwargs):
                    touched.append(_method)
                    return _original(*args, **kwargs)

                setattr(storage, method, noting)
        client = app.test_client()
        for _ in range(REQUESTS):
            assert client.get("/bench-unlimited").status_code == 200
        with app.app_context():
            db.engine.dispose()

    hooks = len(before) + len(after) + len(teardown)
    print(f"the limiter's hooks run for a page with no limit: {hooks}")
    print(f"their cost: {statistics.median(rounds):.2f} us a request (median of {ROUNDS})")
    print(f"limiter storage calls in {REQUESTS} requests to that page: {len(touched)}")


if __name__ == "__main__":
    main()
