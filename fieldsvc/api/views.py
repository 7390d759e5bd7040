"""The API's frame: flask-smorest bound to the app, problem details for every error,
bearer tokens on every resource, one rate limit per token, and the reference page."""

import http
from pathlib import Path
from typing import Any

import flask_swagger_ui
from flask import Blueprint, Flask, render_template, request, send_from_directory, url_for
from flask_smorest import Api, abort
from flask_smorest.utils import prepare_response

from fieldsvc.api import auth
from fieldsvc.api.schemas import Money, Problem
from fieldsvc.errors import PROBLEM_JSON, _http_problem
from fieldsvc.extensions import csrf
from fieldsvc.rate_limits import limit_blueprint

SWAGGER_UI = Path(flask_swagger_ui.__file__).parent / "dist"


class FieldsvcApi(Api):
    """flask-smorest, with errors documented (and answered) as problem details, and the
    pages' HTML error handlers left in place (errors.py answers /api with JSON)."""

    ERROR_SCHEMA = Problem

    def _register_error_handlers(self) -> None:
        pass

    def _register_responses(self) -> None:
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "An error, as RFC 9457 problem details", "schema": Problem}
        prepare_response(response, self.spec, PROBLEM_JSON)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


docs = Blueprint("api_docs", __name__, url_prefix="/api/v1/docs")


@docs.get("/")
def reference():
    """The browsable API reference (Swagger UI, served from the app: no CDN)."""
    return render_template("api/reference.html", spec_url=url_for("api-docs.openapi_json"))


@docs.get("/assets/<path:filename>")
def asset(filename: str):
    return send_from_directory(SWAGGER_UI, filename, max_age=86400)


def _problem_for_blueprint(error):
    return _http_problem(error)


def _resources():
    from fieldsvc.api import (
        catalogue,
        imports,
        incidents,
        photos,  # noqa: F401  (its operations join the incidents blueprint)
        proposals,
        reference,
    )

    return (reference.blp, incidents.blp, proposals.blp, catalogue.blp, imports.blp)


def _unstorable(value: Any) -> bool:
    """Text no column can hold: U+0000 (PostgreSQL refuses it) or a lone surrogate
    (not UTF-8), anywhere in a JSON body, a path, a query or the idempotency key."""
    if isinstance(value, str):
        if "\x00" in value:
            return True
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_unstorable(key) or _unstorable(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_unstorable(item) for item in value)
    return False


def refuse_unstorable_text() -> None:
    sent = [
        request.view_args or {},
        list(request.args.items(multi=True)),
        request.headers.get("Idempotency-Key", ""),
    ]
    if request.is_json:
        sent.append(request.get_json(silent=True))
    if any(_unstorable(value) for value in sent):
        abort(
            400,
            message="The request holds a character that cannot be stored (U+0000 or a "
            "lone surrogate); nothing was saved.",
        )


def _prepare(blp) -> None:
    """What every resource blueprint does before its views, once per process."""
    blp.before_request(refuse_unstorable_text)
    blp.before_request(auth.authenticate)
    blp.register_error_handler(429, _problem_for_blueprint)
    limit_blueprint(blp, auth.rate_limit, key_func=auth.rate_limit_key)
    csrf.exempt(blp)


for _blp in _resources():
    _prepare(_blp)


def init_app(app: Flask) -> None:
    from fieldsvc.api import pages

    app.config.setdefault("API_TITLE", "fieldsvc API")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.1.0")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    api = FieldsvcApi(
        app,
        spec_kwargs={
            "info": {
                "description": (
                    "The fieldsvc API for integrations. Authenticate with an API token "
                    "(Settings → API tokens): `Authorization: Bearer <token>`. Errors are "
                    "RFC 9457 problem details. Writes take `If-Match` with the ETag read."
                )
            },
            "servers": [{"url": "/"}],
            "security": [{"bearerAuth": []}],
            # The headings the operations are under (ApiBlueprint.tag), in words: a
            # top-level key given to the spec replaces the tags flask-smorest names after
            # each blueprint.
            "tags": [{"name": blp.tag, "description": blp.description} for blp in _resources()],
        },
    )
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.register_field(Money, "string", "decimal")
    for blp in _resources():
        api.register_blueprint(blp)
    app.register_blueprint(docs)
    app.register_blueprint(pages.bp)
