import re
from datetime import timedelta

from flask import g, session
from flask_wtf.csrf import generate_csrf
from freezegun import freeze_time
from sqlalchemy import func, select

from fieldsvc.auth.models import Role
from fieldsvc.csrf_tokens import csrf_token
from fieldsvc.customers.models import Customer
from fieldsvc.database import utcnow
from fieldsvc.extensions import db


def test_a_form_posted_without_the_csrf_token_is_refused_and_saves_nothing(client, signed_in):
    signed_in(Role.ADMIN)
    response = client.post("/customers/new", data={"name": "Forged Ltd"}, csrf=False)
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Customer)) == 0


def test_a_forged_csrf_token_is_refused(client, signed_in):
    signed_in(Role.ADMIN)
    response = client.post(
        "/customers/new", data={"name": "Forged Ltd", "csrf_token": "forged"}, csrf=False
    )
    assert response.status_code == 400


def test_sign_out_also_needs_the_token(client, signed_in):
    signed_in(Role.TECHNICIAN)
    assert client.post("/logout", csrf=False).status_code == 400
    assert client.get("/").status_code == 200  # still signed in


def test_every_form_on_the_admin_pages_carries_the_token(client, signed_in, make_customer):
    signed_in(Role.ADMIN)
    customer = make_customer()
    db.session.commit()
    for url in ("/customers/new", f"/customers/{customer.id}/edit", f"/customers/{customer.id}"):
        page = client.get(url).get_data(as_text=True)
        assert page.count("<form") - page.count('role="search"') == page.count('name="csrf_token"')


def test_a_page_carries_the_very_token_flask_wtf_signs_in_that_second(app):
    with app.test_request_context("/"):
        session["csrf_token"] = "a-raw-token-of-this-session"
        for moment in ("2026-12-01 08:00:00", "2026-12-01 08:00:00.9", "2026-12-01 08:00:01"):
            with freeze_time(moment):
                g.pop("csrf_token", None)
                expected = generate_csrf()
                g.pop("csrf_token")
                assert csrf_token() == expected
                assert g.csrf_token == expected  # what forms and generate_csrf() now give
        session["csrf_token"] = "another-session"
        g.pop("csrf_token")
        assert csrf_token() != expected


def test_a_pages_token_belongs_to_its_session_and_expires_after_the_time_limit(
    app, client, signed_in, make_user, monkeypatch
):
    monkeypatch.setitem(app.config, "WTF_CSRF_TIME_LIMIT", 600)  # within the idle hour
    signed_in(Role.ADMIN)
    other = app.test_client().sign_in(make_user(Role.ADMIN).email)
    db.session.commit()
    shown = utcnow().replace(microsecond=0)
    with freeze_time(shown):
        page = client.get("/customers/new").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]

    def post(browser, seconds_later: int, name: str) -> int:
        with freeze_time(shown + timedelta(seconds=seconds_later)):
            data = {"name": name, "csrf_token": token}
            return browser.post("/customers/new", data=data, csrf=False).status_code

    assert post(other, 5, "Other Ltd") == 400
    assert post(client, 540, "Acme Ltd") == 302
    assert post(client, 601, "Late Ltd") == 400
    assert db.session.scalars(select(Customer.name)).all() == ["Acme Ltd"]
