"""What a customer does without an account: a status link (its token stored only as a
hash), their answer to a sent proposal, and the satisfaction survey."""

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fieldsvc.audit.models import Audited
from fieldsvc.database import str_enum, utcnow
from fieldsvc.extensions import db

if TYPE_CHECKING:
    from fieldsvc.auth.models import User
    from fieldsvc.incidents.models import Incident
    from fieldsvc.proposals.models import ProposalRevision


class StatusLink(Audited, db.Model):
    """One link to an incident's status page. The token itself is only ever in the
    e-mail and the PDF; here is its SHA-256, so a database copy opens no page."""

    __tablename__ = "status_links"
    __audit_redacted__ = frozenset({"token_hash"})

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    last_used_at: Mapped[datetime | None]

    incident: Mapped["Incident"] = relationship()
    created_by: Mapped["User"] = relationship(foreign_keys=[created_by_id])
    revoked_by: Mapped["User | None"] = relationship(foreign_keys=[revoked_by_id])

    def is_open(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at

    def __str__(self) -> str:
        return f"status link {self.id} for {self.incident.reference}"


class ResponseKind(StrEnum):
    ACCEPTED = "accepted"
    CHANGES_REQUESTED = "changes_requested"
    DECLINED = "declined"

    @property
    def label(self) -> str:
        return {
            "accepted": "Accepted",
            "changes_requested": "Asked for changes",
            "declined": "Declined",
        }[self.value]


class AnswerChannel(StrEnum):
    """How the customer gave their answer: on the status page themselves, or to a
    supervisor who recorded it."""

    PORTAL = "portal"
    PHONE = "phone"
    PAPER = "paper"
    EMAIL = "email"
    IN_PERSON = "in_person"

    @property
    def label(self) -> str:
        return {
            "portal": "On the status page",
            "phone": "By phone",
            "paper": "On paper",
            "email": "By e-mail",
            "in_person": "In person",
        }[self.value]


# The ways a supervisor may record an answer the customer gave them.
RECORDED_CHANNELS = tuple(
    channel for channel in AnswerChannel if channel is not AnswerChannel.PORTAL
)


class CustomerResponse(Audited, db.Model):
    """The customer's answer to one sent revision: at most one, kept as given. Given on
    the status page (with the link, address and browser), or to a supervisor who
    recorded it (who, how, and optionally the scan of the signed copy)."""

    __tablename__ = "customer_responses"
    __table_args__ = (
        CheckConstraint(
            "(channel = 'portal' AND status_link_id IS NOT NULL AND recorded_by_id IS NULL)"
            " OR (channel <> 'portal' AND status_link_id IS NULL AND recorded_by_id IS NOT NULL"
            " AND recorded_at IS NOT NULL)",
            name="given_or_recorded",
        ),
        CheckConstraint("(scan_key IS NULL) = (scan_sha256 IS NULL)", name="scan_with_its_sha256"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    revision_id: Mapped[int] = mapped_column(ForeignKey("proposal_revisions.id"), unique=True)
    channel: Mapped[AnswerChannel] = mapped_column(
        str_enum(AnswerChannel, 20), default=AnswerChannel.PORTAL, server_default="portal"
    )
    status_link_id: Mapped[int | None] = mapped_column(ForeignKey("status_links.id"))
    kind: Mapped[ResponseKind] = mapped_column(str_enum(ResponseKind, 30))
    # Typed by the customer to accept; or their name as they gave it to a supervisor.
    full_name: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(60))
    comment: Mapped[str] = mapped_column(Text, default="")
    ip_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    # The SHA-256 of the frozen PDF that was on the page (or sent) when they answered.
    pdf_sha256: Mapped[str] = mapped_column(String(64))
    # When the customer answered (on the page: when it was sent; else as recorded).
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    recorded_at: Mapped[datetime | None]
    # The signed copy, as uploaded (a PDF) or re-encoded (a photo), in storage.
    scan_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    scan_sha256: Mapped[str | None] = mapped_column(String(64))
    scan_content_type: Mapped[str | None] = mapped_column(String(100))
    scan_size: Mapped[int | None]

    revision: Mapped["ProposalRevision"] = relationship(back_populates="response")
    status_link: Mapped[StatusLink | None] = relationship()
    # Joined: every page that shows an answer says who took it, without a query more.
    recorded_by: Mapped["User | None"] = relationship(lazy="joined")

    @property
    def recorded(self) -> bool:
        """Given to a supervisor, not on the status page."""
        return self.channel is not AnswerChannel.PORTAL

    def __str__(self) -> str:
        return f"{self.kind.label} by the customer, {self.channel.label.lower()}"


class SurveyResponse(Audited, db.Model):
    """Asked once the incident is resolved: a score from 0 to 10 and a comment."""

    __tablename__ = "survey_responses"
    __table_args__ = (CheckConstraint("score >= 0 AND score <= 10", name="score_0_to_10"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), unique=True)
    status_link_id: Mapped[int] = mapped_column(ForeignKey("status_links.id"))
    score: Mapped[int]
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    incident: Mapped["Incident"] = relationship()
    status_link: Mapped[StatusLink] = relationship()

    def __str__(self) -> str:
        return f"satisfaction {self.score}/10"
