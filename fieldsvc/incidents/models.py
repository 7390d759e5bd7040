"""Incidents and what hangs off them: equipment, photos, work log, communications,
follow-ups. Their states and allowed transitions are here, in one place."""

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    CheckConstraint,
    Double,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, Unmapped, mapped_column, relationship, unmapped_column

from fieldsvc.audit.models import Audited
from fieldsvc.auth.models import User
from fieldsvc.customers.models import Contact, Customer, Equipment, Site
from fieldsvc.database import str_enum, utcnow
from fieldsvc.extensions import db
from fieldsvc.ranges import calendar_constraint

if TYPE_CHECKING:
    from fieldsvc.parts.models import PartOrder
    from fieldsvc.portal.models import StatusLink
    from fieldsvc.proposals.models import Proposal


class _Labelled(StrEnum):
    @property
    def label(self) -> str:
        # Worked out once a member: a list page writes three labels a row.
        try:
            return _LABEL_OF[self]
        except KeyError:
            label = _LABEL_OF[self] = LABELS.get(self, self.replace("_", " ").capitalize())
            return label


class IncidentStatus(_Labelled):
    OPEN = "open"
    REMEDIATION_PROPOSED = "remediation_proposed"
    REMEDIATION_ACCEPTED = "remediation_accepted"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"


S = IncidentStatus
ALLOWED_TRANSITIONS: dict[IncidentStatus, set[IncidentStatus]] = {
    S.OPEN: {S.REMEDIATION_PROPOSED, S.RESOLVED, S.CANCELLED},
    # Back to open when the customer declines or the offer is withdrawn.
    S.REMEDIATION_PROPOSED: {S.REMEDIATION_ACCEPTED, S.OPEN, S.CANCELLED},
    S.REMEDIATION_ACCEPTED: {S.RESOLVED, S.CANCELLED},
    S.RESOLVED: {S.CLOSED, S.OPEN},
    S.CLOSED: set(),
    S.CANCELLED: set(),
}
OPEN_STATUSES = frozenset({S.OPEN, S.REMEDIATION_PROPOSED, S.REMEDIATION_ACCEPTED})
# The steps that state the customer's decision: taken only by sending an offer
# (proposed), by the customer's recorded answer (accepted; back to open on a decline)
# and by an offer expiring (back to open). Nobody may take them for the customer.
OFFER_TRANSITIONS: dict[IncidentStatus, set[IncidentStatus]] = {
    S.OPEN: {S.REMEDIATION_PROPOSED},
    S.REMEDIATION_PROPOSED: {S.REMEDIATION_ACCEPTED, S.OPEN},
}
# What staff may do by hand from each status: the table above, minus those steps.
STAFF_TRANSITIONS: dict[IncidentStatus, set[IncidentStatus]] = {
    status: targets - OFFER_TRANSITIONS.get(status, set())
    for status, targets in ALLOWED_TRANSITIONS.items()
}


class ReportedVia(_Labelled):
    ON_SITE = "on_site"
    PHONE = "phone"
    EMAIL = "email"
    PORTAL = "portal"


class Severity(_Labelled):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class CauseCategory(_Labelled):
    PRE_EXISTING = "pre_existing"
    CUSTOMER = "customer"
    OUR_TECHNICIAN = "our_technician"
    THIRD_PARTY = "third_party"
    UNKNOWN = "unknown"


class Channel(_Labelled):
    PHONE = "phone"
    EMAIL = "email"
    ON_SITE = "on_site"
    PORTAL = "portal"
    LETTER = "letter"


class Direction(_Labelled):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class FollowUpOutcome(_Labelled):
    DONE = "done"
    WORKING = "working"
    NEXT_STEP = "next_step"


_LABEL_OF: dict["_Labelled", str] = {}
LABELS = {
    "on_site": "On site",
    "email": "E-mail",
    "pre_existing": "Pre-existing fault",
    "customer": "Customer",
    "our_technician": "Our technician",
    "third_party": "Third party",
    "remediation_proposed": "Remediation proposed",
    "remediation_accepted": "Remediation accepted",
    "inbound": "From the customer",
    "outbound": "To the customer",
    "working": "Working on it",
    "next_step": "Next step",
}


# An idempotency key as a form or a tablet's outbox sends it (a UUID), and the room a
# photo's ":<n>" suffix needs.
SUBMISSION_KEY_MAX = 64


class IncidentCounter(db.Model):
    """The last reference number handed out in a year (INC-<year>-<number>)."""

    __tablename__ = "incident_counters"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(default=0)


class Incident(Audited, db.Model):
    __tablename__ = "incidents"
    __table_args__ = (
        # A retried or double-tapped submission finds the incident it already made.
        UniqueConstraint("created_by_id", "submission_key"),
        # The reports' and the dashboard's figures for the incidents of some customers
        # (a team's) reported in a period, by cause and with their response times: the
        # index alone answers them, reading only those customers' entries of the period.
        Index(
            "ix_incidents_period_figures",
            "customer_id",
            "created_at",
            "cause_category",
            "reported_to_sent_hours",
            "sent_to_accepted_hours",
            "accepted_to_resolved_hours",
            "reported_to_resolved_hours",
        ),
        # The dashboard's overdue promises of a team: one short range per customer of the
        # team (its incidents whose earliest open promise is past due), read from the
        # index alone, however many incidents or overdue promises other teams have.
        Index("ix_incidents_customer_next_due", "customer_id", "next_follow_up_due_at", "id"),
        calendar_constraint("occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    # A caller may not know which site; a phone intake can leave it for later.
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    status: Mapped[IncidentStatus] = mapped_column(
        str_enum(IncidentStatus), default=IncidentStatus.OPEN, index=True
    )
    severity: Mapped[Severity] = mapped_column(str_enum(Severity), index=True)
    reported_via: Mapped[ReportedVia] = mapped_column(str_enum(ReportedVia), index=True)
    reporter_contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    reporter_name: Mapped[str | None] = mapped_column(String(200))
    reporter_phone: Mapped[str | None] = mapped_column(String(50))
    expected: Mapped[str | None] = mapped_column(Text)
    actual: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime]
    # Internal: never shown to the customer, in a page, an e-mail or a PDF.
    cause_category: Mapped[CauseCategory] = mapped_column(str_enum(CauseCategory), index=True)
    cause_description: Mapped[str | None] = mapped_column(Text)
    technician_statement: Mapped[str | None] = mapped_column(Text)
    claim_reference: Mapped[str | None] = mapped_column(String(100))
    resolution_note: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(index=True)
    # When the earliest open follow-up is due (None: no promise open). Derived from
    # follow_ups and kept up to date on every flush that touches one, so "has an
    # overdue promise" is an index range on this column rather than a search of
    # follow-ups per incident; past due, it is when the incident became overdue.
    next_follow_up_due_at: Mapped[datetime | None] = mapped_column(index=True)
    # Kept from the proposals (fieldsvc/reports/rollups.py): when the first proposal
    # was sent, when the customer first accepted one, and the response times in hours
    # (to resolved only while resolved or closed).
    first_sent_at: Mapped[datetime | None]
    first_accepted_at: Mapped[datetime | None]
    reported_to_sent_hours: Mapped[float | None] = mapped_column(Double)
    sent_to_accepted_hours: Mapped[float | None] = mapped_column(Double)
    accepted_to_resolved_hours: Mapped[float | None] = mapped_column(Double)
    reported_to_resolved_hours: Mapped[float | None] = mapped_column(Double)
    # The tags of its equipment, one a line, for the text search (fieldsvc/incidents/
    # search.py keeps them on every flush that links, unlinks or renames equipment, and
    # the search index holds them with the incident's own text). Not mapped: nobody edits
    # it, the audit trail records the links themselves, and pages need not load it.
    equipment_tags: Unmapped[str | None] = unmapped_column(Text)
    # None: reported by the customer on their status page.
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    submission_key: Mapped[str | None] = mapped_column(String(64))

    customer: Mapped[Customer] = relationship()
    site: Mapped[Site | None] = relationship()
    reporter_contact: Mapped[Contact | None] = relationship()
    created_by: Mapped[User | None] = relationship()
    equipment_links: Mapped[list["IncidentEquipment"]] = relationship(
        back_populates="incident", cascade="all, delete-orphan"
    )
    attachments: Mapped[list["Attachment"]] = relationship(
        back_populates="incident", order_by="Attachment.id"
    )
    work_log: Mapped[list["WorkLogEntry"]] = relationship(
        back_populates="incident", order_by="WorkLogEntry.started_at"
    )
    communications: Mapped[list["Communication"]] = relationship(
        back_populates="incident", order_by="Communication.at"
    )
    follow_ups: Mapped[list["FollowUp"]] = relationship(
        back_populates="incident", order_by="FollowUp.due_at"
    )
    part_orders: Mapped[list["PartOrder"]] = relationship(
        back_populates="incident", order_by="PartOrder.id"
    )
    proposals: Mapped[list["Proposal"]] = relationship(
        back_populates="incident", order_by="Proposal.id"
    )
    # Read only (the portal issues and revokes them): the incident page shows the open ones.
    status_links: Mapped[list["StatusLink"]] = relationship(
        viewonly=True, order_by="StatusLink.created_at"
    )

    @property
    def equipment(self) -> list[Equipment]:
        return equipment_of(self.equipment_links)

    @property
    def reporter(self) -> str:
        if self.reporter_contact is not None:
            return self.reporter_contact.name
        return " · ".join(part for part in (self.reporter_name, self.reporter_phone) if part)

    def overdue_since(self, now: datetime) -> datetime | None:
        """When its earliest open promise fell due, if that is past."""
        due = self.next_follow_up_due_at
        return due if due is not None and due < now else None

    def __str__(self) -> str:
        return self.reference


def equipment_of(links: Iterable[Any]) -> list[Any]:
    """The equipment an incident's links (mapped, or plain records) point at, by tag."""
    return sorted((link.equipment for link in links), key=lambda e: e.tag)


class IncidentEquipment(Audited, db.Model):
    """One piece of equipment an incident is about."""

    __tablename__ = "incident_equipment"
    __table_args__ = (UniqueConstraint("incident_id", "equipment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id"), index=True)

    incident: Mapped[Incident] = relationship(back_populates="equipment_links")
    equipment: Mapped[Equipment] = relationship()

    def __str__(self) -> str:
        return self.equipment.tag


# A caption is one line under a photo: what the customer is looking at.
CAPTION_MAX = 200


class Attachment(Audited, db.Model):
    """A photo of an incident: the normalised image and its thumbnail in storage.

    A photo is kept for us until someone chooses to show it to the customer: only then
    does it go, with its caption, into the proposal PDF and onto the status page.
    """

    __tablename__ = "attachments"
    # A photo sent again from a tablet's outbox (same key, same uploader) is the same photo.
    __table_args__ = (UniqueConstraint("uploaded_by_id", "submission_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    width: Mapped[int]
    height: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(300), unique=True)
    thumbnail_key: Mapped[str] = mapped_column(String(300), unique=True)
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    shown_to_customer: Mapped[bool] = mapped_column(default=False, server_default=false())
    caption: Mapped[str | None] = mapped_column(String(CAPTION_MAX))
    # "<key of the upload>:<n>" for the n-th photo of an upload that carried a key.
    submission_key: Mapped[str | None] = mapped_column(String(SUBMISSION_KEY_MAX))

    incident: Mapped[Incident] = relationship(back_populates="attachments")
    uploaded_by: Mapped[User] = relationship()

    def __str__(self) -> str:
        return self.filename


class WorkLogEntry(Audited, db.Model):
    __tablename__ = "work_log_entries"
    __table_args__ = (
        CheckConstraint("minutes > 0 AND minutes <= 1440", name="minutes_in_a_day"),
        calendar_constraint("started_at"),
        # The same entry sent again (a retry, a tablet's outbox) is recorded once.
        UniqueConstraint("user_id", "submission_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    started_at: Mapped[datetime]
    minutes: Mapped[int]
    note: Mapped[str] = mapped_column(Text)
    submission_key: Mapped[str | None] = mapped_column(String(SUBMISSION_KEY_MAX))

    incident: Mapped[Incident] = relationship(back_populates="work_log")
    user: Mapped[User] = relationship()

    def __str__(self) -> str:
        return f"{self.minutes} min by {self.user.name}"


class Communication(Audited, db.Model):
    __tablename__ = "communications"
    __table_args__ = (
        calendar_constraint("at"),
        UniqueConstraint("user_id", "submission_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    direction: Mapped[Direction] = mapped_column(str_enum(Direction))
    summary: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    submission_key: Mapped[str | None] = mapped_column(String(SUBMISSION_KEY_MAX))

    incident: Mapped[Incident] = relationship(back_populates="communications")
    user: Mapped[User] = relationship()

    def __str__(self) -> str:
        return f"{self.channel.label} {self.direction.label.lower()}"


class FollowUp(Audited, db.Model):
    """A promise made to a customer, kept by closing it with an outcome."""

    __tablename__ = "follow_ups"
    __table_args__ = (
        Index("ix_follow_ups_open_due", "closed_at", "due_at"),
        calendar_constraint("due_at"),
        # A person's open promises by due time (My day, reminders): not a walk through
        # everyone's open promises, however many the company has.
        Index("ix_follow_ups_owner_open_due", "owner_id", "closed_at", "due_at"),
        # An incident's open promises past due and their owners, from the index alone
        # (the dashboard's overdue promises by owner).
        Index("ix_follow_ups_incident_open_due", "incident_id", "closed_at", "due_at", "owner_id"),
        # A promise, or its outcome, sent again from a tablet's outbox is recorded once.
        UniqueConstraint("created_by_id", "submission_key"),
        UniqueConstraint("closed_by_id", "close_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    due_at: Mapped[datetime]
    promise: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    outcome: Mapped[FollowUpOutcome | None] = mapped_column(str_enum(FollowUpOutcome))
    outcome_note: Mapped[str | None] = mapped_column(Text)
    submission_key: Mapped[str | None] = mapped_column(String(SUBMISSION_KEY_MAX))
    # Who recorded the outcome, and the key of the submission that did.
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    close_key: Mapped[str | None] = mapped_column(String(SUBMISSION_KEY_MAX))

    incident: Mapped[Incident] = relationship(back_populates="follow_ups")
    owner: Mapped[User] = relationship(foreign_keys=[owner_id])
    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    closed_by: Mapped[User | None] = relationship(foreign_keys=[closed_by_id])

    def is_overdue(self, now: datetime) -> bool:
        return self.closed_at is None and self.due_at < now

    def __str__(self) -> str:
        return self.promise
