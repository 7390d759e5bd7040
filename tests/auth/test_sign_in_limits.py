"""Sign-in limits stop guessing, not crews: only failed sign-ins count, per address and
per account; a locked account says so on the form, is audited, and unlocks by itself."""

from datetime import timedelta

import pytest
from flask import request
from freezegun import freeze_time
from sqlalchemy import select

from fieldsvc import create_app, rate_limits
from fieldsvc.audit.models import AuditEvent
from fieldsvc.config import ConfigurationError
from fieldsvc.database import utcnow
from fieldsvc.extensions import db, limiter
from tests.factories import PASSWORD

# tests/conftest.py: LOGIN_RATE_LIMIT = "5 per minute" (failures per address)
ACCOUNT_LIMIT = "3 per 15 minutes"


def _sign_in(client, email, password=PASSWORD, address="192.0.2.10"):
    return client.post(
        "/login",
        data={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def test_forty_successful_sign_ins_from_one_address_in_a_minute_all_succeed(client, make_user):
    crew = [make_user() for _ in range(40)]
    db.session.commit()
    with freeze_time(utcnow()):  # one instant: all inside the same minute
        codes = []
        for user in crew:
            codes.append(_sign_in(client, user.email).status_code)
            client.post("/logout", environ_base={"REMOTE_ADDR": "192.0.2.10"})
    assert codes == [302] * 40


def test_failed_sign_ins_from_one_address_are_limited_with_retry_after(client, make_user):
    user = make_user()
    db.session.commit()
    for n in range(5):  # wrong e-mails, so no single account is locked
        assert _sign_in(client, f"nobody{n}@example.com", "guess").status_code == 401

    response = _sign_in(client, user.email)

    assert response.status_code == 429
    assert "Too many failed sign-ins from this address" in response.get_data(as_text=True)
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert client.get("/").status_code == 302  # even the right password waits
    # Another address is not held back by this one's failures.
    assert _sign_in(client, user.email, address="198.51.100.7").status_code == 302


def test_only_the_routes_with_a_limit_use_the_rate_limiters_storage(client, make_user, monkeypatch):
    user = make_user()
    db.session.commit()
    used_by = []
    storage = limiter.storage
    for method in ("get", "incr", "get_expiry", "clear"):
        original = getattr(storage, method)

        def noting(*args, _original=original, **kwargs):
            used_by.append(request.endpoint)
            return _original(*args, **kwargs)

        monkeypatch.setattr(storage, method, noting)

    for n in range(5):
        _sign_in(client, f"nobody{n}@example.com", "guess")
    assert _sign_in(client, user.email).status_code == 429  # still limited
    assert _sign_in(client, user.email, address="198.51.100.7").status_code == 302
    for page in ("/", "/incidents/", "/my-day", "/customers/"):
        assert client.get(page, environ_base={"REMOTE_ADDR": "198.51.100.7"}).status_code == 200

    assert "auth.login" in used_by
    assert not {
        "home.index",
        "incidents.index",
        "incidents.my_day",
        "customers.customer_list",
    } & set(used_by)


def test_wrong_passwords_lock_the_account_with_a_message_and_an_audit_event(app, client, make_user):
    app.config["LOGIN_ACCOUNT_LIMIT"] = ACCOUNT_LIMIT
    user, colleague = make_user(), make_user()
    db.session.commit()
    # From three addresses: the account limit follows the account, not the address.
    for address in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        assert _sign_in(client, user.email, "guess", address).status_code == 401

    response = _sign_in(client, user.email, PASSWORD, "192.0.2.4")

    assert response.status_code == 429
    page = response.get_data(as_text=True)
    assert "Too many wrong passwords for this account" in page
    assert "Try again in 15 minutes." in page
    assert int(response.headers["Retry-After"]) > 14 * 60
    assert client.get("/").status_code == 302
    (event,) = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "account_locked", AuditEvent.object_id == user.id
        )
    )
    assert event.reason == "3 wrong passwords within 15 minutes"
    assert _sign_in(client, colleague.email, PASSWORD, "192.0.2.4").status_code == 302


def test_the_account_lock_lifts_when_its_window_ends(app, client, make_user):
    app.config["LOGIN_ACCOUNT_LIMIT"] = ACCOUNT_LIMIT
    user = make_user()
    db.session.commit()
    with freeze_time(utcnow()) as clock:
        for _ in range(3):
            _sign_in(client, user.email, "guess")
        assert _sign_in(client, user.email).status_code == 429
        clock.tick(timedelta(minutes=14))
        assert _sign_in(client, user.email).status_code == 429

        clock.tick(timedelta(minutes=1, seconds=1))

        assert _sign_in(client, user.email).status_code == 302


def test_a_successful_sign_in_forgets_earlier_wrong_passwords(app, client, make_user):
    app.config["LOGIN_ACCOUNT_LIMIT"] = ACCOUNT_LIMIT
    user = make_user()
    db.session.commit()
    for _ in range(2):
        _sign_in(client, user.email, "guess")
    assert _sign_in(client, user.email).status_code == 302
    client.post("/logout")

    for _ in range(2):
        assert _sign_in(client, user.email, "guess", "192.0.2.99").status_code == 401
    assert _sign_in(client, user.email, address="192.0.2.99").status_code == 302


def test_an_unknown_email_locks_like_a_real_account_so_the_lock_reveals_nothing(app, client):
    app.config["LOGIN_ACCOUNT_LIMIT"] = ACCOUNT_LIMIT
    for _ in range(3):
        assert _sign_in(client, "no.such.person@example.com", "guess").status_code == 401

    response = _sign_in(client, "no.such.person@example.com", "guess")

    assert response.status_code == 429
    assert "Too many wrong passwords for this account" in response.get_data(as_text=True)


def test_the_limits_are_read_from_fieldsvc_variables_and_checked(monkeypatch):
    monkeypatch.setenv("FIELDSVC_LOGIN_RATE_LIMIT", "100 per hour")
    monkeypatch.setenv("FIELDSVC_LOGIN_ACCOUNT_LIMIT", "8 per 30 minutes")
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["LOGIN_RATE_LIMIT"] == "100 per hour"
    assert app.config["LOGIN_ACCOUNT_LIMIT"] == "8 per 30 minutes"
    monkeypatch.setenv("FIELDSVC_LOGIN_ACCOUNT_LIMIT", "five please")
    with pytest.raises(ConfigurationError, match="FIELDSVC_LOGIN_ACCOUNT_LIMIT"):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_the_limiter_looks_only_at_requests_a_limit_applies_to(client, make_user, monkeypatch):
    """Finding that a page has no limit cost it about 70 µs: the limiter is not asked."""
    user = make_user()
    db.session.commit()
    looked_at = []
    identify = limiter.identify_request

    def noting():
        looked_at.append(request.endpoint)
        return identify()

    monkeypatch.setattr(limiter, "identify_request", noting)

    assert _sign_in(client, user.email).status_code == 302
    for page in ("/", "/incidents/", "/my-day", "/customers/"):
        assert client.get(page).status_code == 200
    assert client.get("/status/no-such-token").status_code == 404
    assert client.get("/api/v1/incidents").status_code == 401

    assert "auth.login" in looked_at  # the sign-in's own limit, by its decorator
    assert {"portal.status", "api_incidents.list_incidents"} <= set(looked_at)
    assert not {
        "home.index",
        "incidents.index",
        "incidents.my_day",
        "customers.customer_list",
    } & set(looked_at)


def test_every_blueprint_flask_limiter_holds_a_limit_for_is_one_the_check_runs_for(app):
    """A blueprint limited with `limiter.limit(...)(bp)` rather than `limit_blueprint`
    would never be checked: the check runs only for the blueprints declared there."""
    with app.test_request_context():
        limited = {
            name for name in app.blueprints if limiter.limit_manager.blueprint_limits(app, name)
        }
    assert {"portal", "api_incidents"} <= limited
    assert limited <= rate_limits.limited_blueprints()
