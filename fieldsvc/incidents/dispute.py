"""The dispute pack: one incident's whole record as a PDF, for a supervisor
to send to a customer who disputes a bill — what was done, when, by whom and why.

It prints the facts, every audit event of the incident and of what hangs off it, the
work log with its totals, communications, follow-ups, part orders, every proposal
revision with its approval and frozen PDF's SHA-256, and the customer's answers. The
internal cause only when the supervisor asks for it; our costs (what suppliers
charge us) never, as in the proposal PDF.

Rendered by WeasyPrint through the proposal PDF's `html_to_pdf` and `app_fetcher`, so
the same rule holds: only the app's own files reach the PDF.
"""

from dataclasses import dataclass
from datetime import datetime

from flask import current_app, render_template
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from fieldsvc import clock
from fieldsvc.audit.services import HistoryEntry, acting, history_for, record
from fieldsvc.auth.models import Role, User
from fieldsvc.database import utcnow
from fieldsvc.errors import NotAllowed
from fieldsvc.extensions import db
from fieldsvc.incidents.models import (
    Attachment,
    Communication,
    FollowUp,
    Incident,
    IncidentEquipment,
    WorkLogEntry,
)
from fieldsvc.incidents.queries import records_of, total_minutes
from fieldsvc.incidents.wording import DISPUTE_PACK as ACTION
from fieldsvc.parts.models import PartOrder
from fieldsvc.portal.models import CustomerResponse, StatusLink, SurveyResponse
from fieldsvc.portal.services import DECLINE_REASONS
from fieldsvc.proposals import pdf
from fieldsvc.proposals.models import Proposal, ProposalRevision
from fieldsvc.proposals.services import PricedLine, price
from fieldsvc.proposals.totals import Totals

# What suppliers charge us: never in the pack, as in the proposal PDF.
OUR_COSTS = {
    "PartOrder": frozenset({"restocking_fee_pct", "return_window_days"}),
    "PartOrderLine": frozenset({"unit_cost", "discount_pct"}),
}


@dataclass(frozen=True)
class Change:
    field: str
    before: str | None  # None: not a change of a value (a record created or removed)
    after: str
    internal: bool = False  # part of the internal cause, marked as such


@dataclass(frozen=True)
class TimelineRow:
    at: datetime
    who: str
    what: str
    why: str | None
    changes: list[Change]


@dataclass(frozen=True)
class PersonTime:
    name: str
    minutes: int


@dataclass(frozen=True)
class PricedRevision:
    revision: ProposalRevision
    priced: list[PricedLine]
    totals: Totals


@dataclass(frozen=True)
class DisputePack:
    incident: Incident
    include_internal: bool
    timeline: list[TimelineRow]
    minutes_by_person: list[PersonTime]
    total_minutes: int
    proposals: list[tuple[Proposal, list[PricedRevision]]]
    responses: list[CustomerResponse]
    status_links: list[StatusLink]
    survey: SurveyResponse | None


def produce_dispute_pack(incident: Incident, *, actor: User, include_internal: bool) -> bytes:
    """Record who produces the incident's dispute pack (and whether with the internal
    cause) and render it; the pack's own timeline ends with that event."""
    if not actor.has_role(Role.SUPERVISOR, Role.ADMIN):
        raise NotAllowed("Only supervisors produce a dispute pack.")
    with acting(actor):
        record(
            incident,
            ACTION,
            {"internal_cause_included": [None, include_internal]},
            reason="the incident's record for a customer who disputes a bill",
        )
    return render_dispute_pack(incident, include_internal=include_internal)


def render_dispute_pack(incident: Incident, *, include_internal: bool) -> bytes:
    """The incident's whole record as a PDF; the internal cause only when asked for."""
    pack = dispute_pack(incident, include_internal=include_internal)
    html = render_template(
        "pdf/dispute_pack.html",
        pack=pack,
        incident=pack.incident,
        prepared_at=utcnow(),
        zone=clock.zone_label(clock.reader_zone()),
        paper_size=current_app.config["PAPER_SIZE"].lower(),
        logo_url=pdf.LOGO_URL if pdf.company_logo() else None,
        long_date=pdf.long_date,
        duration=duration,
        decline_reasons=DECLINE_REASONS,
    )
    return pdf.html_to_pdf(html, fetcher=pdf.app_fetcher())


def dispute_pack(incident: Incident, *, include_internal: bool) -> DisputePack:
    """What the pack prints, loaded in a fixed number of queries however long the
    record is."""
    incident = _load(incident.id)
    revisions = [r for p in incident.proposals for r in p.revisions]
    links = list(
        db.session.scalars(
            select(StatusLink)
            .where(StatusLink.incident_id == incident.id)
            .options(joinedload(StatusLink.created_by), joinedload(StatusLink.revoked_by))
            .order_by(StatusLink.id)
        )
    )
    survey = db.session.scalar(
        select(SurveyResponse).where(SurveyResponse.incident_id == incident.id)
    )
    responses = [r.response for r in revisions if r.response is not None]
    records = [
        incident,
        *records_of(incident),
        *incident.part_orders,
        *(line for order in incident.part_orders for line in order.lines),
        *incident.proposals,
        *revisions,
        *(line for revision in revisions for line in revision.lines),
        *responses,
        *links,
        *([survey] if survey else []),
    ]
    rows = [
        _row(entry, include_internal) for entry in history_for(*records, internal=include_internal)
    ]
    return DisputePack(
        incident=incident,
        include_internal=include_internal,
        timeline=[row for row in rows if row is not None],
        minutes_by_person=_minutes_by_person(incident.work_log),
        total_minutes=total_minutes(incident),
        proposals=[
            (proposal, [PricedRevision(r, *price(r)) for r in proposal.revisions])
            for proposal in incident.proposals
        ],
        responses=responses,
        status_links=links,
        survey=survey,
    )


def pack_filename(incident: Incident) -> str:
    return f"{incident.reference}-dispute-pack.pdf"


def duration(minutes: int) -> str:
    """'2 h 30 min (2.50 h)': as a person reads it, and as an invoice counts hours."""
    return f"{minutes // 60} h {minutes % 60:02d} min ({minutes / 60:.2f} h)"


# --- loading ------------------------------------------------------------------------------


def _load(incident_id: int) -> Incident:
    revisions = selectinload(Incident.proposals).selectinload(Proposal.revisions)
    return db.session.scalars(
        select(Incident)
        .where(Incident.id == incident_id)
        .options(
            joinedload(Incident.customer),
            joinedload(Incident.site),
            joinedload(Incident.reporter_contact),
            joinedload(Incident.created_by),
            selectinload(Incident.equipment_links).joinedload(IncidentEquipment.equipment),
            selectinload(Incident.attachments).joinedload(Attachment.uploaded_by),
            selectinload(Incident.work_log).joinedload(WorkLogEntry.user),
            selectinload(Incident.communications).joinedload(Communication.user),
            selectinload(Incident.follow_ups).options(
                joinedload(FollowUp.owner), joinedload(FollowUp.created_by)
            ),
            selectinload(Incident.part_orders).options(
                joinedload(PartOrder.supplier), selectinload(PartOrder.lines)
            ),
            selectinload(Incident.proposals).joinedload(Proposal.author),
            revisions.options(
                selectinload(ProposalRevision.lines),
                joinedload(ProposalRevision.response),
                joinedload(ProposalRevision.contact),
                joinedload(ProposalRevision.return_technician),
                joinedload(ProposalRevision.created_by),
                joinedload(ProposalRevision.reviewed_by),
                joinedload(ProposalRevision.sent_by),
            ),
        )
        # Fresh from the database, not what an earlier request of this session cached.
        .execution_options(populate_existing=True)
    ).one()


# --- the timeline -------------------------------------------------------------------------


def _row(entry: HistoryEntry, include_internal: bool) -> TimelineRow | None:
    """The event as the pack prints it, or None when it is only about what is left out."""
    event = entry.event
    costs = OUR_COSTS.get(event.object_type, frozenset())
    shown = [
        change
        for change in entry.changes
        if change.field not in costs and (include_internal or not change.internal)
    ]
    if event.action == "update" and entry.changes and not shown:
        # Only what the pack leaves out changed (the internal cause, our costs), so the
        # event's reason is about that too.
        return None
    return TimelineRow(
        at=event.at,
        who=_who(event),
        what=entry.headline,
        why=event.reason,
        changes=[
            # A record created or removed, or an event of its own: its values as they were.
            Change(c.label, c.before if entry.compares else None, c.after, c.internal)
            for c in shown
        ],
    )


def _who(event) -> str:
    if event.actor is not None:
        return event.actor.name
    # Customers have no account: the portal records their actions with no actor.
    if (event.reason or "").endswith("on the status page"):
        return "The customer, on the status page"
    return "The system"


def _minutes_by_person(work_log: list[WorkLogEntry]) -> list[PersonTime]:
    people: dict[int, PersonTime] = {}
    for entry in work_log:
        before = people.get(entry.user_id, PersonTime(entry.user.name, 0)).minutes
        people[entry.user_id] = PersonTime(entry.user.name, before + entry.minutes)
    return sorted(people.values(), key=lambda person: person.name)
