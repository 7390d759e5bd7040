"""Factories: fixtures that return small make_<thing>(**overrides) functions."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import count

import pytest

from fieldsvc.audit.services import acting
from fieldsvc.auth.models import Role, Team
from fieldsvc.auth.services import create_user
from fieldsvc.customers.models import Contact, Customer, Equipment, Site
from fieldsvc.database import utcnow
from fieldsvc.extensions import db
from fieldsvc.incidents import services as incident_services
from fieldsvc.incidents.models import Channel, Direction, ReportedVia, Severity
from fieldsvc.incidents.services import IncidentReport, report_incident
from fieldsvc.parts.models import Part, Supplier

PASSWORD = "correct horse battery"
_sequence = count(1)


def _add(obj):
    with acting(None, reason="test data"):
        db.session.add(obj)
        db.session.flush()
    return obj


@pytest.fixture
def make_team(app):
    def make(**overrides):
        return _add(Team(**({"name": f"Team {next(_sequence)}"} | overrides)))

    return make


@pytest.fixture
def make_user(app):
    def make(role: Role = Role.TECHNICIAN, team: Team | None = None, **overrides):
        n = next(_sequence)
        values = {
            "name": f"{role.value.title()} {n}",
            "email": f"{role.value}{n}@example.com",
            "role": role,
            "password": PASSWORD,
            "approval_limit": Decimal("0"),
        } | overrides
        user = create_user(actor=None, **values)
        if team is not None:
            user.team = team
            db.session.flush()
        return user

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

    def sign_in(role: Role, team: Team | None = None):
        user = make_user(role, team=team)
        db.session.commit()
        client.sign_in(user.email, PASSWORD)
        return user

    return sign_in


@pytest.fixture
def make_incident(app, make_site, make_user, make_team):
    """An incident reported on site by a technician of the team serving its customer.

    Pass `actor` and/or `site` (whose customer's team decides who sees it), and any
    IncidentReport field to override.
    """

    def make(actor=None, site=None, now: datetime | None = None, **overrides):
        if site is None:
            team = actor.team if actor is not None and actor.team else make_team()
            site = make_site(customer=Customer(name=f"Customer {next(_sequence)}", team=team))
        actor = actor or make_user(Role.TECHNICIAN, team=site.customer.team)
        values = {
            "customer_id": site.customer_id,
            "site_id": site.id,
            "equipment_ids": [],
            "reported_via": ReportedVia.ON_SITE,
            "severity": Severity.MEDIUM,
            "expected": "Transmitter calibrated and back in service",
            "actual": "Diaphragm over-pressured on the test rig",
            "occurred_at": (now or utcnow()) - timedelta(hours=1),
            "reporter_name": "Dana Whitfield",
        } | overrides
        return report_incident(IncidentReport(**values), actor=actor, now=now)

    return make


def add_activity(incident, people, count: int) -> None:
    """`count` work-log entries, calls and follow-ups on the incident, shared among
    `people`: for tests that a page's queries do not grow with the record."""
    now = utcnow()
    for n in range(count):
        person = people[n % len(people)]
        incident_services.log_work(
            incident, actor=person, started_at=now - timedelta(hours=2), minutes=10, note=f"W{n}"
        )
        incident_services.record_communication(
            incident,
            actor=person,
            channel=Channel.PHONE,
            direction=Direction.OUTBOUND,
            summary=f"Called {n}",
        )
        incident_services.promise_follow_up(
            incident,
            actor=person,
            owner_id=person.id,
            due_at=now + timedelta(hours=n + 1),
            promise=f"Promise {n}",
        )
    db.session.commit()
