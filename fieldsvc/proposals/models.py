"""Remediation proposals: numbered revisions of lines, approved by a supervisor
before the customer sees them. States and who may approve are data, here."""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fieldsvc.audit.models import Audited
from fieldsvc.auth.models import Role
from fieldsvc.database import str_enum, utcnow
from fieldsvc.extensions import db
from fieldsvc.ranges import MONEY, PERCENTAGE, QUANTITY, calendar_constraint

if TYPE_CHECKING:
    from fieldsvc.auth.models import User
    from fieldsvc.customers.models import Contact
    from fieldsvc.incidents.models import Attachment, Incident
    from fieldsvc.parts.models import PartOrderLine
    from fieldsvc.portal.models import CustomerResponse


class RevisionStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    CHANGES_REQUESTED = "changes_requested"
    APPROVED = "approved"
    SENT = "sent"
    CUSTOMER_CHANGES = "customer_changes"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"

    @property
    def label(self) -> str:
        if self is RevisionStatus.CUSTOMER_CHANGES:
            return "Customer asked for changes"
        return self.value.replace("_", " ").capitalize()


R = RevisionStatus
REVISION_TRANSITIONS: dict[RevisionStatus, set[RevisionStatus]] = {
    R.DRAFT: {R.SUBMITTED, R.SUPERSEDED},
    R.CHANGES_REQUESTED: {R.SUBMITTED, R.SUPERSEDED},
    R.SUBMITTED: {R.APPROVED, R.CHANGES_REQUESTED, R.SUPERSEDED},
    R.APPROVED: {R.SENT, R.SUPERSEDED},
    R.SENT: {R.ACCEPTED, R.DECLINED, R.EXPIRED, R.CUSTOMER_CHANGES, R.SUPERSEDED},
    # The customer's comments go back to the author; the answer is a new revision.
    R.CUSTOMER_CHANGES: {R.SUPERSEDED},
    R.ACCEPTED: set(),
    R.DECLINED: set(),
    R.EXPIRED: set(),
    R.SUPERSEDED: set(),
}
# Content can be changed in place only while nobody has reviewed it; afterwards a
# change is a new revision, so what was approved or sent stays as it was.
EDITABLE_STATUSES = frozenset({R.DRAFT, R.CHANGES_REQUESTED})
APPROVAL_MEANING = "I approve this remediation offer"


class LineKind(StrEnum):
    PART = "part"
    LABOUR = "labour"
    TRAVEL = "travel"
    GOODWILL = "goodwill"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class Proposal(Audited, db.Model):
    __tablename__ = "proposals"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    incident: Mapped["Incident"] = relationship(back_populates="proposals")
    author: Mapped["User"] = relationship()
    revisions: Mapped[list["ProposalRevision"]] = relationship(
        back_populates="proposal", order_by="ProposalRevision.number"
    )

    @property
    def current(self) -> "ProposalRevision":
        return self.revisions[-1]

    def __str__(self) -> str:
        return f"Proposal {self.id} for {self.incident.reference}"


class ProposalRevision(Audited, db.Model):
    """One version of the offer. Approved and sent revisions never change."""

    __tablename__ = "proposal_revisions"
    __table_args__ = (
        UniqueConstraint("proposal_id", "number"),
        # From a revision to its proposal without reading the revision's row: the
        # dashboard's answers of the last 90 days go from the answers' date index to
        # their incidents one short lookup each, where PostgreSQL otherwise read every
        # revision ever made (a scan that grows with the history).
        Index("ix_proposal_revisions_id_proposal", "id", "proposal_id"),
        calendar_constraint("return_visit_at"),
        calendar_constraint("valid_until"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"), index=True)
    number: Mapped[int]
    status: Mapped[RevisionStatus] = mapped_column(
        str_enum(RevisionStatus), default=RevisionStatus.DRAFT, index=True
    )
    # What the customer reads: in their words, never the internal cause.
    what_happened: Mapped[str] = mapped_column(Text, default="")
    already_done: Mapped[str] = mapped_column(Text, default="")
    plan: Mapped[str] = mapped_column(Text, default="")
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    return_visit_at: Mapped[datetime | None]
    return_technician_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    valid_until: Mapped[date | None]
    acknowledged_warnings: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None]
    submitted_at: Mapped[datetime | None]
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None]
    approval_meaning: Mapped[str | None] = mapped_column(String(200))
    review_comment: Mapped[str | None] = mapped_column(Text)
    # Sending freezes the PDF: these bytes (in storage) are what the customer got.
    sent_at: Mapped[datetime | None] = mapped_column(index=True)
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    pdf_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    # The sent figures, frozen with the PDF, so reports add them up in SQL.
    customer_pays: Mapped[Decimal | None]
    customer_tax: Mapped[Decimal | None]
    we_absorb: Mapped[Decimal | None]
    # Optimistic locking: a save based on an older version is refused, not merged.
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__: dict[str, Any] = {"version_id_col": version}

    proposal: Mapped[Proposal] = relationship(back_populates="revisions")
    contact: Mapped["Contact | None"] = relationship()
    return_technician: Mapped["User | None"] = relationship(foreign_keys=[return_technician_id])
    created_by: Mapped["User"] = relationship(foreign_keys=[created_by_id])
    reviewed_by: Mapped["User | None"] = relationship(foreign_keys=[reviewed_by_id])
    sent_by: Mapped["User | None"] = relationship(foreign_keys=[sent_by_id])
    response: Mapped["CustomerResponse | None"] = relationship(back_populates="revision")
    lines: Mapped[list["ProposalLine"]] = relationship(
        back_populates="revision", order_by="ProposalLine.position"
    )
    # The photos the sent PDF shows, frozen with it (empty before sending).
    photos: Mapped[list["RevisionPhoto"]] = relationship(
        back_populates="revision", order_by="RevisionPhoto.position"
    )

    @property
    def editable(self) -> bool:
        return self.status in EDITABLE_STATUSES

    def __str__(self) -> str:
        return f"{self.proposal.incident.reference} revision {self.number}"


class ProposalLine(Audited, db.Model):
    __tablename__ = "proposal_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
        CheckConstraint("discount_pct >= 0 AND discount_pct <= 100", name="discount_pct"),
        CheckConstraint(
            "customer_share_pct >= 0 AND customer_share_pct <= 100", name="customer_share_pct"
        ),
        QUANTITY.constraint("quantity"),
        MONEY.constraint("unit_price"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    revision_id: Mapped[int] = mapped_column(ForeignKey("proposal_revisions.id"), index=True)
    position: Mapped[int]
    kind: Mapped[LineKind] = mapped_column(str_enum(LineKind, 20))
    description: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[Decimal] = mapped_column(Numeric(10, 2), info={"range": QUANTITY})
    unit_price: Mapped[Decimal] = mapped_column(info={"range": MONEY})
    discount_pct: Mapped[Decimal] = mapped_column(
        Numeric(5, 2), default=Decimal("0"), info={"range": PERCENTAGE}
    )
    customer_share_pct: Mapped[Decimal] = mapped_column(
        Numeric(5, 2), default=Decimal("100"), info={"range": PERCENTAGE}
    )
    part_order_line_id: Mapped[int | None] = mapped_column(
        ForeignKey("part_order_lines.id"), index=True
    )

    revision: Mapped[ProposalRevision] = relationship(back_populates="lines")
    part_order_line: Mapped["PartOrderLine | None"] = relationship()

    def __str__(self) -> str:
        return f"{self.kind.label}: {self.description}"


class RevisionPhoto(Audited, db.Model):
    """A photo as a sent revision shows it to the customer, with the caption it had then.

    Written once, when the revision is sent: showing, hiding or re-captioning the photo
    later changes later revisions, never what this revision's customer was sent.
    """

    __tablename__ = "revision_photos"
    __table_args__ = (UniqueConstraint("revision_id", "attachment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    revision_id: Mapped[int] = mapped_column(ForeignKey("proposal_revisions.id"), index=True)
    attachment_id: Mapped[int] = mapped_column(ForeignKey("attachments.id"), index=True)
    position: Mapped[int]
    caption: Mapped[str | None] = mapped_column(String(200))

    revision: Mapped[ProposalRevision] = relationship(back_populates="photos")
    attachment: Mapped["Attachment"] = relationship()

    def __str__(self) -> str:
        return f"Photo {self.position}"


class ApprovalMeasure(StrEnum):
    ABSORBED = "absorbed"
    TOTAL_VALUE = "total_value"
    AT_RISK = "at_risk"
    CAUSED_BY_US = "caused_by_us"

    @property
    def label(self) -> str:
        return {
            "absorbed": "Amount we absorb",
            "total_value": "Total list value",
            "at_risk": "Parts spend at risk",
            "caused_by_us": "Caused by our technician",
        }[self.value]


class ApprovalRule(Audited, db.Model):
    """Who may approve: when `measure` is above `threshold` (or, for caused_by_us, when
    our technician caused it), the approver needs `required_role`."""

    __tablename__ = "approval_rules"
    __table_args__ = (MONEY.constraint("threshold"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    description: Mapped[str] = mapped_column(String(200))
    measure: Mapped[ApprovalMeasure] = mapped_column(str_enum(ApprovalMeasure, 20))
    threshold: Mapped[Decimal] = mapped_column(default=Decimal("0"), info={"range": MONEY})
    required_role: Mapped[Role] = mapped_column(str_enum(Role, 20))
    active: Mapped[bool] = mapped_column(default=True, index=True)

    def __str__(self) -> str:
        return self.description
