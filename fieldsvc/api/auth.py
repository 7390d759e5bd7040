"""Who is calling the API: a bearer token and nothing else.

Pages and API share no session: on /api no session cookie is read or set
(auth/session_cookie.py), Flask-Login's current user is the token's user (never loaded
from a cookie), and CSRF, which protects cookies, is off only there.
"""

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any

from flask import current_app, g, request
from flask_smorest import abort

from fieldsvc.api import services
from fieldsvc.api.models import ApiToken
from fieldsvc.audit.services import acting
from fieldsvc.auth.models import Role, User
from fieldsvc.extensions import db


def _bearer() -> str | None:
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


def rate_limit_key() -> str:
    """Flask-Limiter's key on /api: the presented token (its hash), else the address."""
    secret = _bearer()
    if secret is None:
        return f"api-anonymous:{request.remote_addr}"
    return "api-token:" + hashlib.sha256(secret.encode()).hexdigest()[:32]


def rate_limit() -> str:
    return current_app.config["API_RATE_LIMIT"]


def authenticate() -> None:
    """before_request of every API blueprint: a usable token, or 401."""
    secret = _bearer()
    if secret is None:
        abort(401, message="Send an API token: Authorization: Bearer <token>.")
    token = services.token_for(secret)
    if token is None:
        abort(401, message="This API token is unknown, expired or revoked.")
    if services.note_use(token):
        db.session.commit()  # kept even when the request itself only reads
    g.api_token = token
    # Flask-Login's cached user: code that asks for current_user gets the token's user
    # and never looks at a cookie.
    g._login_user = token.user


def token() -> ApiToken:
    return g.api_token


def caller() -> User:
    return g.api_token.user


def requires(scope: str, *roles: Role) -> Callable:
    """The token must carry `scope` (403) and its user have one of `roles`, if given."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any):
            if scope not in g.api_token.scopes:
                abort(403, message=f"This API token lacks the {scope} scope.")
            if roles and not g.api_token.user.has_role(*roles):
                abort(403, message="The token's user has a role that does not allow this.")
            return view(*args, **kwargs)

        return wrapped

    return decorator


@contextmanager
def writing() -> Iterator[User]:
    """Attribute what the block changes to the token's user, and name the token in the
    audit trail's reason (services with their own reason keep theirs)."""
    with acting(caller(), reason=f"API token {g.api_token.id} ({g.api_token.name})"):
        yield caller()
