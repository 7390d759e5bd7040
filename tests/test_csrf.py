from sqlalchemy import func, select

from fieldsvc.auth.models import Role
from fieldsvc.customers.models import Customer
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
