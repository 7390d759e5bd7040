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


class CustomerResponse(Audited, db.Model):
    """The customer's answer to one sent revision: at most one, kept as given."""

    __tablename__ = "customer_responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    revision_id: Mapped[int] = mapped_column(ForeignKey("proposal_revisions.id"), unique=True)
    status_link_id: Mapped[int] = mapped_column(ForeignKey("status_links.id"))
    kind: Mapped[ResponseKind] = mapped_column(str_enum(ResponseKind, 30))
    full_name: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(60))
    comment: Mapped[str] = mapped_column(Text, default="")
    ip_address: Mapped[str] = mapped_column(String(45))
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    # The SHA-256 of the frozen PDF that was on the page when they answered.
    pdf_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    revision: Mapped["ProposalRevision"] = relationship(back_populates="response")
    status_link: Mapped[StatusLink] = relationship()

    def __str__(self) -> str:
        return f"{self.kind.label} by the customer"


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
