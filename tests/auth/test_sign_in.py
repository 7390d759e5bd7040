import re

from sqlalchemy import select

from fieldsvc.audit.models import AuditEvent
from fieldsvc.auth.models import Role
from fieldsvc.extensions import db
from tests.factories import PASSWORD


def test_each_role_can_sign_in_and_sees_the_start_page(client, make_user):
    for role in Role:
        user = make_user(role)
        db.session.commit()
        response = client.post("/login", data={"email": user.email, "password": PASSWORD})
        assert response.status_code == 302
        page = client.get(response.location).get_data(as_text=True)
        assert f"Good to see you, {user.name}" in page
        assert role.label in page
        client.post("/logout")


def test_sign_in_is_case_insensitive_on_the_email(client, make_user):
    user = make_user(email="Dana.Whitfield@Example.com")
    db.session.commit()
    response = client.post(
        "/login", data={"email": "DANA.WHITFIELD@example.com", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert user.email == "dana.whitfield@example.com"


def test_wrong_password_is_refused_with_a_clear_message(client, make_user):
    user = make_user()
    db.session.commit()
    response = client.post("/login", data={"email": user.email, "password": "wrong password!"})
    assert response.status_code == 401
    assert "E-mail or password is wrong" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302  # still signed out


def test_inactive_account_cannot_sign_in(client, make_user):
    user = make_user()
    user.active = False
    db.session.commit()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 401


def test_sign_out_ends_the_session(client, signed_in):
    signed_in(Role.TECHNICIAN)
    assert client.get("/").status_code == 200
    response = client.post("/logout")
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_pages_need_a_signed_in_user(client):
    response = client.get("/customers/")
    assert response.status_code == 302
    assert response.location.startswith("/login?next=")


def test_sign_in_returns_to_the_page_asked_for_but_never_off_site(client, make_user):
    user = make_user()
    db.session.commit()
    response = client.post(
        "/login?next=/customers/", data={"email": user.email, "password": PASSWORD}
    )
    assert response.location == "/customers/"
    client.post("/logout")
    response = client.post(
        "/login?next=https://evil.example/", data={"email": user.email, "password": PASSWORD}
    )
    assert response.location == "/"


def test_sign_in_is_recorded_in_the_audit_trail(client, make_user):
    user = make_user()
    db.session.commit()
    client.post("/login", data={"email": user.email, "password": PASSWORD})
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "sign_in", AuditEvent.object_id == user.id)
    ).one()
    assert event.actor_id == user.id


def test_sign_out_is_recorded_in_the_audit_trail(client, make_user):
    user = make_user()
    db.session.commit()
    client.post("/login", data={"email": user.email, "password": PASSWORD})
    client.post("/logout")
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "sign_out", AuditEvent.object_id == user.id)
    ).one()
    assert event.actor_id == user.id
    assert client.get("/incidents/").status_code == 302  # and the sign-in is over


def test_session_cookie_is_httponly_and_samesite_lax(client, make_user):
    user = make_user()
    db.session.commit()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_pages_carry_security_headers_allowing_only_own_assets(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"  # status-page URLs carry a token
    # No third-party assets in the page itself.
    assert not re.search(r'(src|href)="https?://', response.get_data(as_text=True))


def test_passwords_are_stored_as_argon2_hashes(make_user):
    user = make_user()
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
