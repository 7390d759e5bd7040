"""The broken transmitters as test data, built through the services as in
`fieldsvc.demo`: two PTX-400
transmitters broken by our technician, three ordered (PO-7781, 945.00 net), and the
offer drafted by the technician: 1,530.00 list value of which we absorb 1,180.00.

Plain functions rather than fixtures, so the concurrency tests can build the same data
on their own committed database.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from fieldsvc import clock
from fieldsvc.audit.services import acting
from fieldsvc.auth.models import Role, Team, User
from fieldsvc.auth.services import create_user
from fieldsvc.customers.models import Contact, Customer, Site
from fieldsvc.database import utcnow
from fieldsvc.demo import order_replacement_transmitters, replacement_offer_lines
from fieldsvc.extensions import db
from fieldsvc.incidents.models import CauseCategory, Incident, ReportedVia, Severity
from fieldsvc.incidents.services import IncidentReport, report_incident
from fieldsvc.parts.models import Part, PartOrder, PartOrderLine, PartOrderStatus, Supplier
from fieldsvc.parts.services import (
    OrderDetails,
    OrderLineInput,
    change_part_order_status,
    order_parts,
)
from fieldsvc.proposals.models import Proposal, ProposalRevision, RevisionStatus
from fieldsvc.proposals.services import (
    LineDraft,
    RevisionDraft,
    approve_revision,
    draft_proposal,
    submit_revision,
)
from tests.factories import PASSWORD

# Relative to the real date: a return visit in the past does not pass the send gate.
TODAY = date.today()
TOMORROW = TODAY + timedelta(days=1)

WHAT_HAPPENED = (
    "We are sorry: our technician damaged two of your pressure transmitters, "
    "PT-107 and PT-117, while calibrating them today."
)
ALREADY_DONE = (
    "We have already ordered three new PTX-400 transmitters from Precision "
    "Instruments Supply; they arrive tomorrow."
)
PLAN = (
    "Our technician will return on 24 November at 08:00 to install and calibrate the two "
    "replacements. The third transmitter is yours to keep as a spare, free of charge, and "
    "we waive the labour."
)


def visit_at(day: date = TOMORROW, hour: int = 8) -> datetime:
    """A return visit at a wall-clock hour in the company's time zone."""
    return datetime.combine(day, time(hour), tzinfo=clock.company_zone())


def editor_line_fields(revision: ProposalRevision) -> dict[str, str]:
    """The proposal editor's line fields for `revision`'s lines, as a browser posts them."""
    fields: dict[str, str] = {}
    for n, line in enumerate(revision.lines):
        fields |= {
            f"lines-{n}-kind": line.kind.value,
            f"lines-{n}-description": line.description,
            f"lines-{n}-quantity": str(line.quantity),
            f"lines-{n}-unit_price": str(line.unit_price),
            f"lines-{n}-discount_pct": str(line.discount_pct),
            f"lines-{n}-customer_share_pct": str(line.customer_share_pct),
            f"lines-{n}-part_order_line_id": str(line.part_order_line_id or ""),
        }
    return fields


@dataclass
class BrokenTransmitters:
    team: Team
    technician: User
    supervisor: User
    admin: User
    customer: Customer
    contact: Contact
    supplier: Supplier
    part: Part
    incident: Incident
    order: PartOrder
    proposal: Proposal | None

    @property
    def revision(self) -> ProposalRevision:
        assert self.proposal is not None
        return self.proposal.current

    @property
    def ordered_line(self) -> PartOrderLine:
        return self.order.lines[0]

    def lines(self) -> list[LineDraft]:
        """Two replacements half paid, a free spare, and the labour waived."""
        return replacement_offer_lines(self.part, self.ordered_line)

    def draft(self, **overrides) -> RevisionDraft:
        """The story's offer, with any RevisionDraft field replaced."""
        values = {
            "what_happened": WHAT_HAPPENED,
            "already_done": ALREADY_DONE,
            "plan": PLAN,
            "contact_id": self.contact.id,
            "return_visit_at": visit_at(),
            "return_technician_id": self.technician.id,
            "valid_until": TODAY + timedelta(days=14),
            "lines": self.lines(),
        } | overrides
        return RevisionDraft(**values)

    def order_more(
        self, *, status: PartOrderStatus = PartOrderStatus.ORDERED, **details
    ) -> PartOrder:
        """Another part order for the incident, placed (or not) on TODAY."""
        values = {
            "supplier_id": self.supplier.id,
            "po_number": f"PO-{7800 + len(self.incident.part_orders)}",
            "ordered_on": TODAY,
            "expected_on": TOMORROW,
        } | details
        order = order_parts(
            self.incident,
            OrderDetails(**values),
            [OrderLineInput("PTX-400 mounting kit", Decimal("2"), Decimal("40.00"))],
            actor=self.technician,
        )
        _advance(order, status, self.technician)
        return order


def _advance(order: PartOrder, status: PartOrderStatus, actor: User) -> None:
    path = {
        PartOrderStatus.TO_ORDER: [],
        PartOrderStatus.ORDERED: [PartOrderStatus.ORDERED],
        PartOrderStatus.SHIPPED: [PartOrderStatus.ORDERED, PartOrderStatus.SHIPPED],
        PartOrderStatus.RECEIVED: [PartOrderStatus.ORDERED, PartOrderStatus.RECEIVED],
        PartOrderStatus.INSTALLED: [
            PartOrderStatus.ORDERED,
            PartOrderStatus.RECEIVED,
            PartOrderStatus.INSTALLED,
        ],
        PartOrderStatus.CANCELLED: [PartOrderStatus.CANCELLED],
    }[status]
    for step in path:
        change_part_order_status(order, step, actor=actor, today=TODAY)


def build_broken_transmitters(*, with_proposal: bool = True, other: str = "") -> BrokenTransmitters:
    """The broken transmitters up to the drafted offer (revision 1, a draft by the technician).

    `other` names a second, separate copy (its own team, customer and people)."""
    with acting(None, reason="test data"):
        team = Team(name=f"{other}North-East field team")
        db.session.add(team)
        db.session.flush()
        users = {
            role: create_user(
                name=name,
                email=f"{role.value}{other.strip().lower()}@northwind-test.example",
                role=role,
                password=PASSWORD,
                approval_limit=Decimal(limit),
                team_id=team.id,
                actor=None,
            )
            for name, role, limit in (
                ("Tom Technician", Role.TECHNICIAN, "0"),
                ("Sara Supervisor", Role.SUPERVISOR, "5000.00"),
                ("Alex Admin", Role.ADMIN, "20000.00"),
            )
        }
        customer = Customer(name=f"{other}Northwind Pharma", team=team)
        site = Site(customer=customer, name="Building 4 — Sterile Fill", address="1200 Harbor Road")
        contact = Contact(
            customer=customer, name="Dana Whitfield", email="dana.whitfield@northwind.example"
        )
        supplier = Supplier(name=f"{other}Precision Instruments Supply")
        part = Part(
            number=f"{other.strip()}PTX-400",
            description="PTX-400 pressure transmitter",
            list_price=Decimal(350),
        )
        db.session.add_all([customer, site, contact, supplier, part])
        db.session.flush()
    technician = users[Role.TECHNICIAN]
    incident = report_incident(
        IncidentReport(
            customer_id=customer.id,
            site_id=site.id,
            equipment_ids=[],
            reported_via=ReportedVia.ON_SITE,
            severity=Severity.HIGH,
            expected="All 30 pressure transmitters calibrated and back in service today.",
            actual="PT-107 and PT-117 over-pressured on our test rig during calibration.",
            occurred_at=utcnow() - timedelta(hours=2),
            reporter_contact_id=contact.id,
            cause_category=CauseCategory.OUR_TECHNICIAN,
            cause_description="Test rig regulator set to 40 bar instead of 4 bar.",
            technician_statement="I did not re-check the regulator. My mistake.",
        ),
        actor=technician,
    )
    order = order_replacement_transmitters(
        incident, supplier=supplier, part=part, actor=technician, today=TODAY
    )
    seed = BrokenTransmitters(
        team=team,
        technician=technician,
        supervisor=users[Role.SUPERVISOR],
        admin=users[Role.ADMIN],
        customer=customer,
        contact=contact,
        supplier=supplier,
        part=part,
        incident=incident,
        order=order,
        proposal=None,
    )
    if with_proposal:
        seed.proposal = draft_proposal(incident, seed.draft(), actor=technician)
    db.session.commit()
    return seed


def approve(seed: BrokenTransmitters) -> ProposalRevision:
    """The technician submits the story's offer and the supervisor approves it."""
    revision = seed.revision
    submit_revision(revision, actor=seed.technician, expected_version=revision.version)
    approve_revision(
        revision, approver=seed.supervisor, password=PASSWORD, expected_version=revision.version
    )
    db.session.commit()
    return revision


def send(seed: BrokenTransmitters) -> str:
    """Approve (if needed) and send the story's current revision; returns the status-page
    token from the link the customer was sent."""
    from fieldsvc.proposals.sending import send_revision

    revision = seed.revision
    if revision.status is not RevisionStatus.APPROVED:
        approve(seed)
    sent = send_revision(revision, sender=seed.supervisor, expected_version=revision.version)
    db.session.commit()
    return sent.status_url.rsplit("/", 1)[1]
