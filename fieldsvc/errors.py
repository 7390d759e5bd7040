"""Domain errors, and the one place they become HTTP responses."""

import time
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from fieldsvc.extensions import db, limiter


class DomainError(Exception):
    """A business rule said no (400)."""

    status = 400

    @property
    def headers(self) -> dict[str, str]:
        """Headers the refusal carries (e.g. Retry-After)."""
        return {}


class FieldError(DomainError):
    """A rule about one form field: the view shows it next to the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class NotAllowed(DomainError):
    status = 403


class InvalidTransition(DomainError):
    status = 409


class StaleVersion(DomainError):
    status = 409


def retry_after_seconds() -> int:
    """For a 429's Retry-After: seconds until the rate limit this request broke lets
    requests through again."""
    breached = limiter.current_limit
    if breached is None:
        return 60
    return max(1, int(breached.reset_at - time.time()))


def wants_json() -> bool:
    """The request asks for JSON rather than a page (a tablet's outbox sending an action
    it queued offline): its answer is the outcome and the message a person reads."""
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == (
        "application/json"
    )


def refused(message: str, status: int, headers: dict[str, str] | None = None):
    """The answer to a request refused with `message`: JSON when it asked for JSON."""
    if wants_json():
        body = jsonify(ok=False, message=message, signed_out=status == 401)
    else:
        body = render_template("error.html", status=status, message=message)
    return body, status, headers or {}


API_PREFIX = "/api/"
PROBLEM_JSON = "application/problem+json"


def is_api_request() -> bool:
    return request.path.startswith(API_PREFIX)


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """An API error as RFC 9457 problem details; `errors` lists {field, message}."""
    from http import HTTPStatus

    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM_JSON
    response.headers.update(headers or {})
    return response


def _field_errors(messages: Any, prefix: str = "") -> list[dict[str, str]]:
    """webargs' nested {location: {field: [messages]}} as a flat list of field errors."""
    if isinstance(messages, dict):
        found = []
        for key, value in messages.items():
            if not prefix and key in ("json", "query", "headers", "path", "form"):
                found += _field_errors(value, "")
            else:
                found += _field_errors(value, f"{prefix}.{key}" if prefix else str(key))
        return found
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [{"field": prefix or "body", "message": message} for message in messages]
    if isinstance(messages, list):
        return [e for m in messages for e in _field_errors(m, prefix)]
    return [{"field": prefix or "body", "message": str(messages)}]


def _http_problem(error: HTTPException) -> Response:
    data = getattr(error, "data", None) or {}
    messages = data.get("errors") or data.get("messages")
    errors = _field_errors(messages) if messages else None
    detail = data.get("message") or error.description or ""
    if errors and error.code == 422:
        detail = "The request has invalid values; nothing was saved."
    headers = dict(data.get("headers") or {})
    if error.code == 429:
        headers["Retry-After"] = str(retry_after_seconds())
    if error.code == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="fieldsvc"')
    return problem(error.code or 500, detail, errors=errors, headers=headers)


def answer_http_error(error: HTTPException):
    if is_api_request():
        return _http_problem(error)
    return refused(error.description, error.code)


def init_app(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def domain_error(error: DomainError):
        db.session.rollback()
        if is_api_request():
            status = 412 if isinstance(error, StaleVersion) else error.status
            field = getattr(error, "field", None)
            errors = [{"field": field, "message": error.message}] if field else None
            return problem(status, str(error), errors=errors, headers=error.headers)
        return refused(str(error), error.status, error.headers)

    app.register_error_handler(HTTPException, answer_http_error)

    @app.errorhandler(500)
    def server_error(error):
        db.session.rollback()
        message = "Something went wrong on our side. Nothing was saved; please try again."
        if is_api_request():
            return problem(500, message)
        return render_template("error.html", status=500, message=message), 500
