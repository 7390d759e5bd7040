"""API fixtures: tokens for users of each role, and a client that presents one."""

import pytest
from flask.testing import FlaskClient

from fieldsvc.api.models import SCOPES
from fieldsvc.api.services import issue_token
from fieldsvc.extensions import db


@pytest.fixture
def make_token(app):
    """A usable token for `user` (every scope unless `scopes` says), as its secret."""

    def make(user, scopes=SCOPES, days: int = 30, **overrides) -> str:
        issued = issue_token(user, actor=user, name="Test integration", scopes=scopes, days=days)
        for name, value in overrides.items():
            setattr(issued.token, name, value)
        db.session.commit()
        return issued.secret

    return make


class ApiClient:
    """The Flask test client speaking JSON with one bearer token, and no cookies."""

    def __init__(self, client: FlaskClient, secret: str | None) -> None:
        self.client = client
        self.secret = secret

    def open(self, method: str, path: str, *, headers=None, **kwargs):
        headers = dict(headers or {})
        if self.secret is not None:
            headers.setdefault("Authorization", f"Bearer {self.secret}")
        return self.client.open("/api/v1" + path, method=method, headers=headers, **kwargs)

    def get(self, path, **kwargs):
        return self.open("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.open("POST", path, **kwargs)

    def put(self, path, **kwargs):
        return self.open("PUT", path, **kwargs)


@pytest.fixture
def api_as(app, make_token):
    """api_as(user, scopes=...) → an ApiClient with a new token of that user."""

    def make(user, **token_options) -> ApiClient:
        return ApiClient(app.test_client(use_cookies=False), make_token(user, **token_options))

    return make
