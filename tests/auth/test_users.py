"""Admins manage accounts: bad input gets a clear message on the form and saves nothing."""

import re
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from fieldsvc.audit.models import AuditEvent
from fieldsvc.auth.models import Role, User
from fieldsvc.extensions import db
from tests.factories import PASSWORD

GOOD = {
    "name": "Sam Supervisor",
    "email": "sam@example.com",
    "role": "supervisor",
    "approval_limit": "2500.00",
    "password": "long enough passphrase",
}


@pytest.fixture
def admin(signed_in):
    return signed_in(Role.ADMIN)


def _counts() -> tuple[int, int]:
    return (
        db.session.scalar(select(func.count()).select_from(User)),
        db.session.scalar(select(func.count()).select_from(AuditEvent)),
    )


def test_admin_creates_a_user_who_can_then_sign_in(app, client, admin):
    response = client.post("/users/new", data=GOOD)
    assert response.status_code == 302
    user = db.session.scalars(select(User).where(User.email == "sam@example.com")).one()
    assert user.role is Role.SUPERVISOR
    assert user.approval_limit == Decimal("2500.00")
    client.post("/logout")
    with app.test_client() as other:
        other.sign_in("sam@example.com", "long enough passphrase")


@pytest.mark.parametrize(
    ("change", "field_message"),
    [
        ({"email": "not-an-email"}, "Enter an e-mail address like name@company.com."),
        ({"email": ""}, "This field is required."),
        ({"password": ""}, "Enter a password."),
        ({"password": "short"}, "Use at least 10 characters."),
        ({"password": "aaaaaaaaaaaa"}, "Use more different characters."),
        ({"password": "sam-password-123"}, "Do not use your e-mail address in the password."),
        ({"role": "overlord"}, "Not a valid choice."),
        ({"approval_limit": "-1"}, "The approval limit cannot be negative."),
        ({"approval_limit": "lots"}, "Not a valid decimal value."),
        ({"name": ""}, "This field is required."),
    ],
)
def test_bad_user_input_is_explained_on_the_form_and_nothing_is_saved(
    client, admin, change, field_message
):
    before = _counts()
    response = client.post("/users/new", data=GOOD | change)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert field_message in page
    assert "Nothing was saved." in page
    assert _counts() == before


def test_an_email_already_in_use_is_refused(client, admin, make_user):
    make_user(email="taken@example.com")
    db.session.commit()
    before = _counts()
    response = client.post("/users/new", data=GOOD | {"email": "Taken@Example.com"})
    assert response.status_code == 422
    assert "Another account already uses this e-mail address." in response.get_data(as_text=True)
    assert _counts() == before


def test_editing_a_user_keeps_the_password_unless_a_new_one_is_given(client, admin, make_user):
    user = make_user(Role.TECHNICIAN)
    db.session.commit()
    old_hash = user.password_hash
    response = client.post(
        f"/users/{user.id}/edit",
        data={"name": "Renamed", "email": user.email, "role": "supervisor", "approval_limit": "10"},
    )
    assert response.status_code == 302
    db.session.refresh(user)
    assert (user.name, user.role, user.password_hash) == ("Renamed", Role.SUPERVISOR, old_hash)


def test_a_password_change_shows_in_history_without_the_hash(client, admin, make_user):
    user = make_user()
    db.session.commit()
    client.post(
        f"/users/{user.id}/edit",
        data={
            "name": user.name,
            "email": user.email,
            "role": "technician",
            "approval_limit": "0",
            "password": "brand new passphrase",
        },
    )
    page = client.get(f"/users/{user.id}").get_data(as_text=True)
    assert re.search(r'class="field">Password</td>\s*<td>[^<]*</td>\s*<td>\(redacted\)', page) or (
        re.search(r">Password<.{0,200}\(redacted\)", page, re.S)
    ), page[page.index("Timeline") :]
    assert "$argon2" not in page


def test_a_deactivated_user_cannot_sign_in(app, client, admin, make_user):
    user = make_user()
    db.session.commit()
    response = client.post(
        f"/users/{user.id}/active", data={"active": "0", "reason": "left the company"}
    )
    assert response.status_code == 302
    with app.test_client() as other:
        response = other.post("/login", data={"email": user.email, "password": PASSWORD})
        assert response.status_code == 401
    assert "left the company" in client.get(f"/users/{user.id}").get_data(as_text=True)


def test_admins_cannot_lock_themselves_out(client, admin):
    response = client.post(f"/users/{admin.id}/active", data={"active": "0"})
    assert response.status_code == 400
    assert "You cannot deactivate your own account." in response.get_data(as_text=True)
    db.session.refresh(admin)
    assert admin.active
