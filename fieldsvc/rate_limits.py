"""Rate limits where they are declared, and nowhere else.

The limits themselves sit on their routes: failed sign-ins (auth.login), the customers'
status page (the portal blueprint) and each API token (the API's resource blueprints).
fieldsvc sets no default, application-wide or meta limit, so Flask-Limiter, bound to the
app as it documents, finds no limit for any other page and never reads or writes its
storage (Redis with several app servers) for one.

Flask-Limiter looks for the limits of every request before it runs, and finding none cost
a page about 70 µs. Its look runs only for the blueprints limited as a whole (declared
with `limit_blueprint`); a route's own limit (`limiter.limit` on a view) is checked by the
view's decorator, as before. Were a default, application-wide or meta limit configured
(RATELIMIT_DEFAULT, RATELIMIT_APPLICATION, RATELIMIT_META), every request would be looked
at, as Flask-Limiter does (benchmarks/rate_limit_hooks.py measures what is left).
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Flask, request

from fieldsvc.extensions import limiter

# The names of the blueprints with a limit on all their routes.
_LIMITED_BLUEPRINTS: set[str] = set()

_LIMITS_ON_EVERY_REQUEST = ("RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION", "RATELIMIT_META")


def limit_blueprint(blueprint: Blueprint, limit: str | Callable[[], str], **options: Any) -> None:
    """Flask-Limiter's `limiter.limit(limit, **options)` on every route of `blueprint`."""
    limiter.limit(limit, **options)(blueprint)
    _LIMITED_BLUEPRINTS.add(blueprint.name)


def limited_blueprints() -> frozenset[str]:
    """The names of the blueprints the limiter's check runs for."""
    return frozenset(_LIMITED_BLUEPRINTS)


def init_app(app: Flask) -> None:
    limiter.init_app(app)
    if any(app.config.get(key) for key in _LIMITS_ON_EVERY_REQUEST):
        return
    hooks = app.before_request_funcs.setdefault(None, [])
    for at, hook in enumerate(hooks):
        if getattr(hook, "__self__", None) is limiter:
            hooks[at] = _only_for_limited_blueprints(hook)


def _only_for_limited_blueprints(check: Callable[[], Any]) -> Callable[[], Any]:
    @wraps(check)
    def check_limited_blueprints() -> Any:
        if _LIMITED_BLUEPRINTS.intersection(request.blueprints):
            return check()
        return None

    return check_limited_blueprints
