"""The security headers every page sends, the same on each response, and a page with
options of its own (the health checks) keeping them beside the app's."""

import pytest

from fieldsvc import create_app
from fieldsvc.auth.models import Role
from fieldsvc.extensions import db
from tests.conftest import test_config as config_for

SAME_ON_EVERY_PAGE = (
    "Content-Security-Policy",
    "Referrer-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Permissions-Policy",
)


def test_every_page_sends_the_same_security_headers_on_every_view(client, make_user):
    user = make_user(Role.SUPERVISOR)
    db.session.commit()
    client.sign_in(user.email)

    responses = [client.get(path) for path in ("/incidents/", "/my-day", "/incidents/")]

    first = responses[0].headers
    assert first["Content-Security-Policy"] == (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
        "form-action 'self'; frame-ancestors 'none'"
    )
    assert first["Referrer-Policy"] == "no-referrer"
    assert first["X-Frame-Options"] == "SAMEORIGIN"
    assert first["X-Content-Type-Options"] == "nosniff"
    for response in responses:
        assert response.status_code == 200
        assert [response.headers.get(name) for name in SAME_ON_EVERY_PAGE] == [
            first.get(name) for name in SAME_ON_EVERY_PAGE
        ]


@pytest.mark.parametrize("force_https", [True, False])
def test_pages_go_to_https_when_asked_but_the_health_check_answers_over_http(
    database_url, force_https
):
    app = create_app(config_for(database_url, FORCE_HTTPS=force_https))
    client = app.test_client()

    for _ in range(2):  # the second view as the first
        page = client.get("/login")
        health = client.get("/healthz")

        if force_https:
            assert page.status_code in (301, 302)
            assert page.headers["Location"].startswith("https://")
        else:
            assert page.status_code == 200
        assert health.status_code == 200
        assert health.get_json() == {"status": "alive"}
