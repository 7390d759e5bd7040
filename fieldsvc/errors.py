"""Domain errors, and the one place they become HTTP responses."""

import time

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from fieldsvc.extensions import db, limiter


class DomainError(Exception):
    """A business rule said no (400)."""

    status = 400


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


def refused(message: str, status: int):
    """The answer to a request refused with `message`: JSON when it asked for JSON."""
    if wants_json():
        return jsonify(ok=False, message=message, signed_out=status == 401), status
    return render_template("error.html", status=status, message=message), status


def init_app(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def domain_error(error: DomainError):
        db.session.rollback()
        return refused(str(error), error.status)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return refused(error.description, error.code)

    @app.errorhandler(500)
    def server_error(error):
        db.session.rollback()
        message = "Something went wrong on our side. Nothing was saved; please try again."
        return render_template("error.html", status=500, message=message), 500
