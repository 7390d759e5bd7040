"""API tokens: made by a person for themselves or by an admin for a service account,
shown once, kept hashed, scoped, expiring, revocable, rate limited; and no page session
opens the API."""

import hashlib
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from fieldsvc.api.models import ApiToken
from fieldsvc.api.services import create_service_account, issue_token
from fieldsvc.auth.models import Role, User
from fieldsvc.auth.services import update_user
from fieldsvc.database import utcnow
from fieldsvc.errors import FieldError
from fieldsvc.extensions import db
from tests.api.conftest import ApiClient


def test_a_person_creates_a_token_that_is_shown_once_and_stored_hashed(client, signed_in, app):
    user = signed_in(Role.TECHNICIAN)

    response = client.post(
        "/settings/api-tokens",
        data={"name": "My scripts", "scopes": ["incidents:read"], "days": "30"},
    )

    assert response.status_code == 201
    secret = re.search(
        r'id="issued-secret"[^>]*value="(fsv_[^"]+)"', response.get_data(as_text=True)
    )[1]
    token = db.session.scalars(select(ApiToken)).one()
    assert token.user_id == user.id and token.scopes == ["incidents:read"]
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in client.get("/settings/api-tokens").get_data(as_text=True)
    api = ApiClient(app.test_client(use_cookies=False), secret)
    assert api.get("/incidents").status_code == 200
    db.session.expire_all()
    assert token.last_used_at is not None
    assert "Never" not in client.get("/settings/api-tokens").get_data(as_text=True)


def test_an_admin_makes_a_service_account_token_and_the_account_cannot_sign_in(
    client, signed_in, app
):
    signed_in(Role.ADMIN)
    response = client.post(
        "/api-tokens",
        data={
            "account": "ERP sync",
            "role": "admin",
            "team_id": "",
            "name": "Nightly equipment sync",
            "scopes": ["customers:read", "customers:write"],
            "days": "365",
        },
    )
    assert response.status_code == 201
    account = db.session.scalars(select(User).where(User.service_account)).one()
    assert account.name == "ERP sync" and account.role is Role.ADMIN

    client.post("/logout")
    refused = client.post("/login", data={"email": account.email, "password": "!service-account"})
    assert refused.status_code == 401


def test_a_service_accounts_edit_page_offers_no_password_and_refuses_one(client, signed_in):
    admin = signed_in(Role.ADMIN)
    account = create_service_account(actor=admin, name="ERP sync", role=Role.ADMIN, team_id=None)
    db.session.commit()
    person = db.session.get(User, admin.id)

    page = client.get(f"/users/{account.id}/edit").get_data(as_text=True)
    persons_page = client.get(f"/users/{person.id}/edit").get_data(as_text=True)
    posted = client.post(
        f"/users/{account.id}/edit",
        data={
            "name": "ERP sync (nightly)",
            "role": "admin",
            "approval_limit": "0",
            "password": "a long new passphrase",
        },
    )

    assert 'name="password"' not in page and 'name="password"' in persons_page
    assert posted.status_code == 302  # saved what the page offers; the password is not read
    db.session.expire_all()
    assert account.name == "ERP sync (nightly)"
    assert account.password_hash == "!service-account"
    with pytest.raises(FieldError, match="never signs in"):
        update_user(
            account,
            {
                "name": "ERP sync",
                "email": account.email,
                "role": "admin",
                "approval_limit": 0,
                "password": "a long new passphrase",
            },
            actor=admin,
        )


def test_a_person_cannot_be_given_a_token_by_someone_else(make_user):
    admin, technician = make_user(Role.ADMIN), make_user(Role.TECHNICIAN)
    try:
        issue_token(technician, actor=admin, name="x", scopes=["incidents:read"], days=1)
    except Exception as refused:
        assert "service account" in str(refused)
    else:
        raise AssertionError("an admin made a token that acts as another person")


def test_a_token_without_the_scope_gets_403(api_as, make_user):
    api = api_as(make_user(Role.ADMIN), scopes=["incidents:read"])

    response = api.get("/customers")

    assert response.status_code == 403
    assert "customers:read" in response.json["detail"]


def test_an_expired_or_revoked_token_gets_401(app, make_token, make_user):
    user = make_user(Role.TECHNICIAN)
    expired = make_token(user, expires_at=utcnow() - timedelta(seconds=1))
    revoked = make_token(user, revoked_at=utcnow())
    unknown = "fsv_" + "x" * 43

    for secret in (expired, revoked, unknown, None):
        response = ApiClient(app.test_client(use_cookies=False), secret).get("/customers")
        assert response.status_code == 401, secret
        assert response.mimetype == "application/problem+json"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_page_session_cookie_alone_opens_no_api_and_the_api_sets_no_cookie(
    client, signed_in, api_as, make_user
):
    signed_in(Role.ADMIN)
    assert client.get("/customers/").status_code == 200

    with_cookie_only = client.get("/api/v1/customers")
    with_token = api_as(make_user(Role.ADMIN)).get("/customers")

    assert with_cookie_only.status_code == 401
    assert "Set-Cookie" not in with_cookie_only.headers
    assert with_token.status_code == 200 and "Set-Cookie" not in with_token.headers


def test_api_writes_need_no_csrf_token_but_pages_still_do(client, signed_in, api_as, make_user):
    api = api_as(make_user(Role.ADMIN))
    assert api.post("/customers", json={"name": "Northwind"}).status_code == 201

    signed_in(Role.ADMIN)
    assert client.post("/customers/new", data={"name": "Contoso"}, csrf=False).status_code == 400


def test_each_token_has_its_own_rate_limit(app, api_as, make_user):
    app.config["API_RATE_LIMIT"] = "3 per minute"
    user = make_user(Role.TECHNICIAN)
    busy, other = api_as(user), api_as(user)

    answers = [busy.get("/customers").status_code for _ in range(4)]

    assert answers == [200, 200, 200, 429]
    limited = busy.get("/customers")
    assert (
        limited.mimetype == "application/problem+json" and int(limited.headers["Retry-After"]) > 0
    )
    assert other.get("/customers").status_code == 200


def test_revoking_a_token_on_the_settings_page_ends_it_at_once(client, signed_in, app, make_token):
    user = signed_in(Role.TECHNICIAN)
    secret = make_token(user)
    api = ApiClient(app.test_client(use_cookies=False), secret)
    assert api.get("/customers").status_code == 200
    token = db.session.scalars(select(ApiToken)).one()

    client.post(f"/api-tokens/{token.id}/revoke")

    assert api.get("/customers").status_code == 401
    assert "Revoked" in client.get("/settings/api-tokens").get_data(as_text=True)
