"""In production the sign-in cookie is Secure: over plain http the browser never sends it
back, so signing in fails. The sign-in page and the refused form say why and what to do."""

import re

import pytest

from fieldsvc import create_app
from fieldsvc.auth.models import Role
from tests import conftest
from tests.factories import PASSWORD

WHY = "This page came over plain http, but this server sends its sign-in cookie only over https"


def token_on(page) -> str:
    token = re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)
    )
    return token[1]


@pytest.fixture
def secure_cookies(app):
    app.config["SESSION_COOKIE_SECURE"] = True
    return app


def test_the_sign_in_page_over_plain_http_says_signing_in_cannot_work_and_what_to_do(
    secure_cookies, client
):
    page = client.get("/login", base_url="http://service.example").get_data(as_text=True)

    assert WHY in page
    assert "set FIELDSVC_TRUSTED_PROXIES to the number of proxies" in page
    assert "FIELDSVC_SECURE_COOKIES=false" in page


def test_the_refused_sign_in_over_plain_http_says_why_beside_the_missing_csrf_token(
    secure_cookies, client, make_user
):
    user = make_user(Role.TECHNICIAN)
    page = client.get("/login", base_url="http://service.example")
    assert "; Secure" in page.headers["Set-Cookie"]
    token = token_on(page)
    # As a browser does (Werkzeug's test client does not): a Secure cookie never goes
    # back over plain http.
    client.delete_cookie("session", domain="service.example")
    response = client.post(
        "/login",
        data={"csrf_token": token, "email": user.email, "password": PASSWORD},
        base_url="http://service.example",
        csrf=False,
    )

    text = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "The CSRF session token is missing." in text
    assert WHY in text


def test_over_https_the_same_server_signs_in_and_says_nothing_of_http(
    secure_cookies, client, make_user
):
    user = make_user(Role.TECHNICIAN)
    page = client.get("/login", base_url="https://service.example")
    assert WHY not in page.get_data(as_text=True)
    token = token_on(page)
    response = client.post(
        "/login",
        data={"csrf_token": token, "email": user.email, "password": PASSWORD},
        base_url="https://service.example",
        csrf=False,
    )
    assert response.status_code == 302


def test_a_plain_http_form_without_secure_cookies_is_refused_as_before(client):
    response = client.post("/login", data={"email": "x@example.com"}, csrf=False)
    assert response.status_code == 400
    assert WHY not in response.get_data(as_text=True)


def test_on_the_machine_itself_where_browsers_send_secure_cookies_over_http_nothing_is_said(
    secure_cookies, client
):
    for host in ("localhost", "127.0.0.1:5000", "[::1]:8000"):
        page = client.get("/login", base_url=f"http://{host}").get_data(as_text=True)
        assert WHY not in page, host


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_behind_a_trusted_proxy_that_forwards_https_the_page_says_nothing_of_http(database_url):
    app = create_app(
        conftest.test_config(database_url, TRUSTED_PROXIES=1, SESSION_COOKIE_SECURE=True)
    )
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    with app.test_client() as client:
        behind_proxy = client.get(
            "/login", base_url="http://service.example", headers=forwarded
        ).get_data(as_text=True)
        direct = client.get("/login", base_url="http://service.example").get_data(as_text=True)
    assert WHY not in behind_proxy
    assert WHY in direct
