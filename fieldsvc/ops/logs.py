"""Log lines, as JSON objects (for a log collector) or plain text (for a terminal), each
with the id of the request it belongs to.

Nothing here logs a path or a query string: a customer's status-page link carries its
token in the path. A request is named by its endpoint ("portal.status") instead.
"""

import logging
import re
import secrets
from typing import Any

from flask import Flask, g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_LOGGER = "fieldsvc.requests"
# What a proxy or load balancer sends (a UUID, a hex or base64url trace id) and nothing
# that could break a log line or a header: no spaces, quotes or control characters.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+/=-]{0,127}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = ["asctime", "levelname", "name", "message", "request_id"]
RENAMED_FIELDS = {"asctime": "time", "levelname": "level", "name": "logger"}


def request_id_from(header: str | None) -> str:
    """The caller's request id when it looks like one, else a new one: 32 random hex
    digits, as a UUID's (without making one)."""
    if header and SANE_REQUEST_ID.fullmatch(header):
        return header
    return secrets.token_hex(16)


def current_request_id() -> str | None:
    return g.get("request_id") if has_request_context() else None


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id() or "-"
        return True


class AppLogHandler(logging.StreamHandler):
    """The handler init_app installs (told apart from others to replace it)."""


def formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter(
            JSON_FIELDS, rename_fields=RENAMED_FIELDS, timestamp=False, json_ensure_ascii=False
        )
    return logging.Formatter(TEXT_FORMAT)


def init_app(app: Flask) -> None:
    """One handler on the root logger, so the app's lines and its libraries' (SQLAlchemy,
    WeasyPrint) come out alike, in the configured format. The level is the app's own;
    the line of each request is always written (commands make none: cron stays quiet)."""
    from flask.logging import default_handler

    app.logger.removeHandler(default_handler)
    app.logger.setLevel(app.config["LOG_LEVEL"])
    logging.getLogger(REQUEST_LOGGER).setLevel(logging.INFO)
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, AppLogHandler)]:
        root.removeHandler(handler)  # an app made again in the same process
    handler = AppLogHandler()
    handler.setFormatter(formatter(app.config["LOG_FORMAT"]))
    handler.addFilter(_RequestIdFilter())
    root.addHandler(handler)


def log_request(status: int, duration_ms: float) -> None:
    """The one line each request leaves: who asked what, and how it went. The user only
    when the request already loaded them (a page that signs in), so this costs no query."""
    endpoint = request.endpoint or "unmatched"
    user = g.get("_login_user")
    user_id = user.id if user is not None and user.is_authenticated else None
    # Every use of an API token is on record: reads here, writes in the audit trail too.
    token = g.get("api_token")
    logging.getLogger(REQUEST_LOGGER).info(
        "%s %s %s %.1f ms user %s",
        request.method,
        endpoint,
        status,
        duration_ms,
        user_id,
        extra={
            "method": request.method,
            "endpoint": endpoint,
            "status": status,
            "duration_ms": round(duration_ms, 1),
            "user_id": user_id,
            **({"api_token_id": token.id} if token is not None else {}),
        },
    )


# How many functions `App.ensure_sync` keeps its answer for.
SYNC_KEPT = 1024


class App(Flask):
    """Flask, logging an unhandled error by endpoint instead of by path (Flask's own
    message names the path, which may hold a status-page token), and asking once per
    function whether it is a coroutine function."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._sync: dict[Any, Any] = {}

    def ensure_sync(self, func):
        # Flask asks for the view and each before- and after-request function of every
        # request (sixteen on a page), and `inspect.iscoroutinefunction` unwraps each
        # every time. The answer for a function does not change: kept, up to SYNC_KEPT
        # of them (a callable made afresh on each request would otherwise pile up).
        try:
            return self._sync[func]
        except KeyError:
            pass
        except TypeError:  # a callable that cannot be a key
            return super().ensure_sync(func)
        if len(self._sync) >= SYNC_KEPT:
            self._sync.clear()
        sync = self._sync[func] = super().ensure_sync(func)
        return sync

    def log_exception(self, exc_info) -> None:
        self.logger.error(
            "unhandled error in %s [%s]",
            request.endpoint or "unmatched",
            request.method,
            exc_info=exc_info,
        )
