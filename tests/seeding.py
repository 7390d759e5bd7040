"""Bulk-inserted history for the tests that need thousands of rows (query plans, the
report months): a company of two teams, and incidents, follow-ups and accepted offers
inserted in one statement each, with the reports' kept figures filled as the
migrations fill them."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select

from fieldsvc.auth.models import Role, Team, User
from fieldsvc.customers.models import Customer, Site
from fieldsvc.extensions import db
from fieldsvc.incidents.models import FollowUp, Incident
from fieldsvc.portal.models import CustomerResponse
from fieldsvc.proposals.models import Proposal, ProposalRevision
from fieldsvc.reports import months, rollups, steps


@dataclass
class Company:
    team: Team  # served by `technician` and `supervisor`
    other: Team
    customers: list[Customer]  # every other one the team's (odd positions)
    sites: list[Site]
    technician: User
    supervisor: User

    def next_incident_id(self) -> int:
        return (db.session.scalar(select(Incident.id).order_by(Incident.id.desc())) or 0) + 1


def company(customers: int = 20, name: str = "Plan") -> Company:
    team, other = Team(name=f"{name} team"), Team(name=f"{name} other team")
    served = [
        Customer(name=f"{name} customer {n}", team=team if n % 2 else other)
        for n in range(customers)
    ]
    sites = [Site(customer=customer, name="Plant", address="1 Road") for customer in served]
    people = [
        User(
            name=f"{name} {role.value}",
            email=f"{name.lower()}-{role.value}@example.com",
            role=role,
            password_hash="x",
            team=team,
        )
        for role in (Role.TECHNICIAN, Role.SUPERVISOR)
    ]
    db.session.add_all([team, other, *served, *sites, *people])
    db.session.flush()
    return Company(team, other, served, sites, *people)


def insert_incidents(company: Company, rows: Iterable[dict]) -> None:
    """Incidents from dicts with at least `id` and `created_at` (the customer and site
    by `id` among the company's customers unless given)."""
    count = len(company.customers)
    db.session.execute(
        insert(Incident),
        [
            {
                "reference": f"INC-T-{row['id']:06d}",
                "customer_id": company.customers[row["id"] % count].id,
                "site_id": company.sites[row["id"] % count].id,
                "status": "open",
                "severity": "medium",
                "reported_via": "phone",
                "reporter_name": "Caller",
                "actual": f"Incident {row['id']}",
                "occurred_at": row["created_at"],
                "cause_category": "unknown",
                "created_by_id": company.technician.id,
            }
            | row
            for row in rows
        ],
    )


def insert_follow_ups(company: Company, due: dict[int, datetime]) -> None:
    """One open promise by the technician for each incident id, due when given."""
    db.session.execute(
        insert(FollowUp),
        [
            {
                "incident_id": incident_id,
                "owner_id": company.technician.id,
                "created_by_id": company.technician.id,
                "due_at": due_at,
                "promise": "Call back",
                "created_at": due_at - timedelta(days=3),
            }
            for incident_id, due_at in due.items()
        ],
    )


@dataclass(frozen=True)
class Offer:
    """A revision sent and accepted, with its frozen figures."""

    incident_id: int
    sent_at: datetime
    accepted_at: datetime
    customer_pays: Decimal = Decimal("100.00")
    customer_tax: Decimal = Decimal("6.25")
    we_absorb: Decimal = Decimal("250.00")


def insert_accepted_offers(company: Company, offers: list[Offer]) -> None:
    """Each offer as its own proposal with one revision, accepted on the phone."""
    first = (db.session.scalar(select(Proposal.id).order_by(Proposal.id.desc())) or 0) + 1
    numbered = list(enumerate(offers, start=first))
    db.session.execute(
        insert(Proposal),
        [
            {
                "id": n,
                "incident_id": o.incident_id,
                "author_id": company.technician.id,
                "created_at": o.sent_at,
            }
            for n, o in numbered
        ],
    )
    db.session.execute(
        insert(ProposalRevision),
        [
            {
                "id": n,
                "proposal_id": n,
                "number": 1,
                "status": "accepted",
                "created_by_id": company.technician.id,
                "created_at": o.sent_at,
                "sent_at": o.sent_at,
                "sent_by_id": company.supervisor.id,
                "pdf_sha256": "0" * 64,
                "customer_pays": o.customer_pays,
                "customer_tax": o.customer_tax,
                "we_absorb": o.we_absorb,
            }
            for n, o in numbered
        ],
    )
    db.session.execute(
        insert(CustomerResponse),
        [
            {
                "revision_id": n,
                "channel": "phone",
                "kind": "accepted",
                "full_name": "Dana Whitfield",
                "pdf_sha256": "0" * 64,
                "created_at": o.accepted_at,
                "recorded_by_id": company.supervisor.id,
                "recorded_at": o.accepted_at,
            }
            for n, o in numbered
        ],
    )


def keep_figures(zone: ZoneInfo) -> None:
    """The reports' kept figures and months, as the migrations fill them."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        # Statistics of the rows just inserted: without them, after a long test session
        # of rolled-back inserts, PostgreSQL once planned the full recompute for minutes.
        connection.exec_driver_sql(
            "ANALYZE incidents, proposals, proposal_revisions, customer_responses"
        )
    rollups.recompute(connection)
    months.rebuild(connection, zone)
    steps.rebuild(connection)
    db.session.flush()
