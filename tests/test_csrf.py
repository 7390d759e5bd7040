import re
from datetime import timedelta

from freezegun import freeze_time
from sqlalchemy import func, select

from fieldsvc.auth.models import Role
from fieldsvc.customers.models import Customer
from fieldsvc.database import utcnow
from fieldsvc.extensions import db
from tests.factories import PASSWORD


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


def _page_token(client, url: str = "/") -> str:
    """The signed token the page's sign-out form carries."""
    page = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page)[1]


def _new_customer(client, name: str, token: str):
    return client.post("/customers/new", data={"name": name, "csrf_token": token}, csrf=False)


def test_pages_opened_within_a_minute_carry_one_signed_token_and_each_is_accepted(
    client, signed_in
):
    signed_in(Role.ADMIN)
    with freeze_time(utcnow()) as clock:
        first = _page_token(client)
        assert _page_token(client, "/customers/new") == first
        clock.tick(timedelta(seconds=61))
        later = _page_token(client)
        assert later != first  # signed again: stamped with the time it was signed

        assert _new_customer(client, "Signed first Ltd", first).status_code == 302
        assert _new_customer(client, "Signed later Ltd", later).status_code == 302
    names = set(db.session.scalars(select(Customer.name)))
    assert {"Signed first Ltd", "Signed later Ltd"} <= names


def test_a_signed_token_still_expires_an_hour_after_it_was_signed(client, signed_in):
    signed_in(Role.ADMIN)
    with freeze_time(utcnow()) as clock:
        token = _page_token(client)
        clock.tick(timedelta(seconds=30))
        assert _page_token(client) == token
        for _ in range(3):  # still at work: the sign-in stays open
            clock.tick(timedelta(minutes=20))
            assert _page_token(client) != token
        response = _new_customer(client, "Too late Ltd", token)
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Customer)) == 0


def test_another_persons_token_is_refused_even_when_signed_the_same_minute(app, client, make_user):
    first, second = client, app.test_client()
    for person in (first, second):
        user = make_user(Role.ADMIN)
        db.session.commit()
        person.sign_in(user.email, PASSWORD)
    with freeze_time(utcnow()):
        theirs = _page_token(first)
        assert _page_token(second) != theirs
        response = _new_customer(second, "Forged Ltd", theirs)
    assert response.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Customer)) == 0
