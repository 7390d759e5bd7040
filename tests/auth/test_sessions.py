"""Sign-ins that end: signing out, a new password and deactivation end them for good,
and a session also ends after an idle hour and after a shift's length in any case."""

import hashlib
from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select, update

from fieldsvc import create_app
from fieldsvc.auth.models import Role, User, UserSession
from fieldsvc.config import ConfigurationError
from fieldsvc.database import utcnow
from fieldsvc.extensions import db
from fieldsvc.incidents.models import WorkLogEntry
from tests.factories import PASSWORD


def copy_of(app, client):
    """Another browser holding a copy of `client`'s session cookie, as a thief would."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value, domain="localhost")
    return thief


def signed_in_twice(app, user):
    """The same user signed in on two tablets."""
    first, second = app.test_client(), app.test_client()
    first.sign_in(user.email)
    second.sign_in(user.email)
    return first, second


def _work_logged() -> int:
    return db.session.scalar(select(func.count()).select_from(WorkLogEntry))


def test_a_cookie_copied_before_sign_out_opens_and_writes_nothing_after_it(
    app, client, make_user, make_team, make_incident
):
    technician = make_user(Role.TECHNICIAN, team=make_team())
    incident = make_incident(actor=technician)
    db.session.commit()
    client.sign_in(technician.email)
    thief = copy_of(app, client)
    assert thief.get(f"/incidents/{incident.id}").status_code == 200  # the copy works...

    client.post("/logout")

    page = thief.get(f"/incidents/{incident.id}")
    assert page.status_code == 302 and page.location.startswith("/login")
    started = (utcnow() - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    work = {"work-started_at": started, "work-minutes": "30", "work-note": "With a stolen cookie"}
    response = thief.post(f"/incidents/{incident.id}/work", data=work)
    assert response.status_code == 302 and response.location.startswith("/login")
    assert _work_logged() == 0


def test_signing_out_on_one_tablet_leaves_the_other_signed_in(app, make_user):
    user = make_user()
    db.session.commit()
    first, second = signed_in_twice(app, user)

    first.post("/logout")

    assert first.get("/").status_code == 302
    assert second.get("/").status_code == 200


def test_a_new_password_set_by_an_admin_ends_every_session_of_that_user(app, client, make_user):
    user, admin = make_user(), make_user(Role.ADMIN)
    db.session.commit()
    first, second = signed_in_twice(app, user)
    client.sign_in(admin.email)

    response = client.post(
        f"/users/{user.id}/edit",
        data={
            "name": user.name,
            "email": user.email,
            "role": "technician",
            "approval_limit": "0",
            "password": "a brand new passphrase",
        },
    )

    assert response.status_code == 302
    assert first.get("/").status_code == 302
    assert second.get("/").status_code == 302
    assert client.get("/").status_code == 200  # the admin's own session is untouched
    fresh = app.test_client().sign_in(user.email, "a brand new passphrase")
    assert fresh.get("/").status_code == 200


def test_changing_your_own_password_signs_out_your_other_devices_but_not_this_one(app, make_user):
    admin = make_user(Role.ADMIN)
    db.session.commit()
    here, elsewhere = signed_in_twice(app, admin)

    here.post(
        f"/users/{admin.id}/edit",
        data={
            "name": admin.name,
            "email": admin.email,
            "role": "admin",
            "approval_limit": "0",
            "password": "a brand new passphrase",
        },
    )

    assert here.get("/").status_code == 200
    assert elsewhere.get("/").status_code == 302


def test_deactivating_a_user_ends_their_sessions_and_reactivating_does_not_revive_them(
    app, client, make_user
):
    user, admin = make_user(), make_user(Role.ADMIN)
    db.session.commit()
    tablet = app.test_client().sign_in(user.email)
    client.sign_in(admin.email)

    client.post(f"/users/{user.id}/active", data={"active": "0", "reason": "left"})
    assert tablet.get("/").status_code == 302
    client.post(f"/users/{user.id}/active", data={"active": "1"})

    assert tablet.get("/").status_code == 302
    assert app.test_client().sign_in(user.email).get("/").status_code == 200


def test_a_session_ends_after_an_idle_hour_but_not_while_in_use(client, make_user):
    user = make_user()
    db.session.commit()
    with freeze_time(utcnow()) as clock:
        client.sign_in(user.email)
        for _ in range(3):  # used every 59 minutes: still signed in after three hours
            clock.tick(timedelta(minutes=59))
            assert client.get("/").status_code == 200

        clock.tick(timedelta(minutes=61))

        response = client.get("/")
    assert response.status_code == 302 and response.location.startswith("/login")


def test_a_session_ends_twelve_hours_after_sign_in_however_busy(client, make_user):
    user = make_user()
    db.session.commit()
    with freeze_time(utcnow()) as clock:
        client.sign_in(user.email)
        for _ in range(14):  # 11 h 40 min of steady use
            clock.tick(timedelta(minutes=50))
            assert client.get("/").status_code == 200

        clock.tick(timedelta(minutes=21))

        response = client.get("/")
    assert response.status_code == 302 and response.location.startswith("/login")


@pytest.mark.parametrize("variable, value", [("IDLE", 10), ("LIFETIME", 1)])
def test_the_session_limits_come_from_configuration(app, client, make_user, variable, value):
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(minutes=10)
    app.config["SESSION_LIFETIME"] = timedelta(hours=1)
    user = make_user()
    db.session.commit()
    with freeze_time(utcnow()) as clock:
        client.sign_in(user.email)
        if variable == "IDLE":
            clock.tick(timedelta(minutes=value, seconds=1))
        else:
            for _ in range(7):  # every 9 minutes: never idle, but past the hour
                clock.tick(timedelta(minutes=9))
                client.get("/")
        assert client.get("/").status_code == 302


def test_the_cookie_carries_a_sign_in_token_that_the_database_keeps_only_hashed(client, make_user):
    user = make_user()
    db.session.commit()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    with client.session_transaction() as session:
        token = session["_user_id"]

    assert token != str(user.id) and len(token) >= 40
    stored = db.session.scalars(select(UserSession.token_hash)).all()
    assert stored == [hashlib.sha256(token.encode()).hexdigest()]
    # No remember-me cookie: closing the session ends the sign-in, nothing outlives it.
    assert not any(c.startswith("remember_token=") for c in response.headers.getlist("Set-Cookie"))
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "Expires=" in cookie  # the browser drops it after the idle hour too


def test_session_limits_are_read_from_fieldsvc_variables(monkeypatch):
    monkeypatch.setenv("FIELDSVC_SESSION_IDLE_MINUTES", "20")
    monkeypatch.setenv("FIELDSVC_SESSION_HOURS", "8")
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["PERMANENT_SESSION_LIFETIME"] == timedelta(minutes=20)
    assert app.config["SESSION_LIFETIME"] == timedelta(hours=8)
    monkeypatch.setenv("FIELDSVC_SESSION_IDLE_MINUTES", "0")
    with pytest.raises(ConfigurationError, match="FIELDSVC_SESSION_IDLE_MINUTES"):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_a_sign_in_ended_by_another_request_is_refused_on_the_next_one_after_one_lookup(
    app, client, make_user, count_queries
):
    user = make_user()
    db.session.commit()
    client.sign_in(user.email)
    db.session.expunge_all()  # what a fresh request reads, not the test's cache
    with count_queries() as statements:
        assert client.get("/").status_code == 200
    # The sign-in and its user come from the database on every request, in one statement.
    assert sum("FROM user_sessions" in s for s in statements) == 1

    # Signed out on another device of the same person, or by an admin: only the row changes.
    open_sign_in = db.session.scalars(select(UserSession).filter_by(user_id=user.id)).one()
    open_sign_in.ended_at = utcnow()
    db.session.commit()

    response = client.get("/")
    assert response.status_code == 302 and response.location.startswith("/login")


def test_a_role_changed_or_account_deactivated_elsewhere_counts_from_the_next_request(
    app, client, make_user
):
    supervisor = make_user(Role.SUPERVISOR)
    db.session.commit()
    client.sign_in(supervisor.email)
    assert client.get("/dashboard").status_code == 200
    this_user = User.id == supervisor.id

    # Changed by another process (another worker, a command): only the row changes.
    db.session.execute(update(User).where(this_user).values(role=Role.TECHNICIAN))
    db.session.commit()
    db.session.expunge_all()
    assert client.get("/dashboard").status_code == 403

    db.session.execute(update(User).where(this_user).values(active=False))
    db.session.commit()
    db.session.expunge_all()
    response = client.get("/")
    assert response.status_code == 302 and response.location.startswith("/login")


def _session_cookie_set(response) -> bool:
    return any(c.startswith("session=") for c in response.headers.getlist("Set-Cookie"))


def test_the_session_cookie_is_re_signed_at_most_once_a_minute_while_in_use(client, make_user):
    user = make_user()
    db.session.commit()
    with freeze_time(utcnow()) as clock:
        client.sign_in(user.email)
        clock.tick(timedelta(seconds=61))
        assert _session_cookie_set(client.get("/"))  # a minute old: its idle clock moves on

        clock.tick(timedelta(seconds=30))
        page = client.get("/")
        assert not _session_cookie_set(page)
        assert "Cookie" in page.headers["Vary"]  # it still depends on the cookie it read
        clock.tick(timedelta(seconds=20))
        assert not _session_cookie_set(client.get("/"))

        clock.tick(timedelta(seconds=11))
        assert _session_cookie_set(client.get("/"))


def test_a_session_used_every_half_minute_outlives_the_idle_hour(client, make_user):
    user = make_user()
    db.session.commit()
    with freeze_time(utcnow()) as clock:
        client.sign_in(user.email)
        for _ in range(150):  # 75 minutes of steady use, most requests not re-signing
            clock.tick(timedelta(seconds=30))
            assert client.get("/").status_code == 200

        clock.tick(timedelta(minutes=61))

        response = client.get("/")
    assert response.status_code == 302 and response.location.startswith("/login")


def test_a_sign_out_elsewhere_is_refused_even_while_the_cookie_is_not_re_signed(
    app, client, make_user
):
    user = make_user()
    db.session.commit()
    with freeze_time(utcnow()) as clock:
        client.sign_in(user.email)
        other_tablet = copy_of(app, client)
        clock.tick(timedelta(seconds=5))
        assert other_tablet.get("/").status_code == 200

        client.post("/logout")
        clock.tick(timedelta(seconds=5))

        response = other_tablet.get("/")
    assert response.status_code == 302 and response.location.startswith("/login")


def test_a_cookie_already_used_still_ends_after_an_idle_hour_and_when_the_key_changes(
    app, client, make_user
):
    user = make_user()
    db.session.commit()
    with freeze_time(utcnow()) as clock:
        client.sign_in(user.email)
        clock.tick(timedelta(minutes=2))
        assert client.get("/").status_code == 200  # re-signed: a new cookie
        for _ in range(3):  # the same cookie, sent again and again within the minute
            clock.tick(timedelta(seconds=10))
            assert client.get("/").status_code == 200
        cookie = client.get_cookie("session").value

        clock.tick(timedelta(minutes=61))
        idle = client.get("/")

        clock.tick(timedelta(minutes=-61))
        client.set_cookie("session", cookie)
        assert client.get("/").status_code == 200
        app.secret_key = "another key"
        client.set_cookie("session", cookie)
        other_key = client.get("/")
    assert idle.status_code == 302 and idle.location.startswith("/login")
    assert other_key.status_code == 302 and other_key.location.startswith("/login")
