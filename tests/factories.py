"""Factories: fixtures that return small make_<thing>(**overrides) functions."""

from datetime import date
from decimal import Decimal
from itertools import count

import pytest

from fieldsvc.audit.services import acting
from fieldsvc.auth.models import Role
from fieldsvc.auth.services import create_user
from fieldsvc.customers.models import Contact, Customer, Equipment, Site
from fieldsvc.extensions import db
from fieldsvc.parts.models import Part, Supplier

PASSWORD = "correct horse battery"
_sequence = count(1)


def _add(obj):
    with acting(None, reason="test data"):
        db.session.add(obj)
        db.session.flush()
    return obj


@pytest.fixture
def make_user(app):
    def make(role: Role = Role.TECHNICIAN, **overrides):
        n = next(_sequence)
        values = {
            "name": f"{role.value.title()} {n}",
            "email": f"{role.value}{n}@example.com",
            "role": role,
            "password": PASSWORD,
            "approval_limit": Decimal("0"),
        } | overrides
        return create_user(actor=None, **values)

    return make


@pytest.fixture
def make_customer(app):
    def make(**overrides):
        return _add(Customer(**({"name": f"Customer {next(_sequence)}"} | overrides)))

    return make


@pytest.fixture
def make_site(app, make_customer):
    def make(**overrides):
        if "customer" not in overrides and "customer_id" not in overrides:
            overrides["customer"] = make_customer()
        values = {"name": f"Site {next(_sequence)}", "address": "1 Test Road"} | overrides
        return _add(Site(**values))

    return make


@pytest.fixture
def make_contact(app, make_customer):
    def make(**overrides):
        if "customer" not in overrides and "customer_id" not in overrides:
            overrides["customer"] = make_customer()
        n = next(_sequence)
        values = {"name": f"Contact {n}", "email": f"contact{n}@customer.example"} | overrides
        return _add(Contact(**values))

    return make


@pytest.fixture
def make_equipment(app, make_site):
    def make(**overrides):
        if "site" not in overrides and "site_id" not in overrides:
            overrides["site"] = make_site()
        values = {
            "tag": f"PT-{next(_sequence)}",
            "model": "PTX-400",
            "calibration_due_on": date(2027, 1, 31),
        } | overrides
        return _add(Equipment(**values))

    return make


@pytest.fixture
def make_supplier(app):
    def make(**overrides):
        return _add(Supplier(**({"name": f"Supplier {next(_sequence)}"} | overrides)))

    return make


@pytest.fixture
def make_part(app):
    def make(**overrides):
        n = next(_sequence)
        values = {
            "number": f"P-{n}",
            "description": f"Part {n}",
            "list_price": Decimal("350.00"),
        } | overrides
        return _add(Part(**values))

    return make


@pytest.fixture
def signed_in(client, make_user):
    """Sign the test client in with a new user of the given role; return that user."""

    def sign_in(role: Role):
        user = make_user(role)
        db.session.commit()
        client.sign_in(user.email, PASSWORD)
        return user

    return sign_in
