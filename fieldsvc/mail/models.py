"""The outbox: every e-mail the app sends is a row first, so a failed delivery is
kept, retried by the job queue, and shown to admins when it finally fails, never lost.

The row's status is also the lock that makes delivery idempotent: a job claims an
e-mail by a conditional update (pending or failed → sending) before any SMTP traffic,
so a job run twice, or by two workers at once, sends one e-mail."""

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fieldsvc.database import str_enum, utcnow
from fieldsvc.extensions import db

if TYPE_CHECKING:
    from fieldsvc.incidents.models import Incident


class EmailStatus(StrEnum):
    PENDING = "pending"  # not tried yet
    SENDING = "sending"  # claimed by a delivery job
    SENT = "sent"
    FAILED = "failed"  # tried, refused or unreachable; retried later
    UNDELIVERABLE = "undeliverable"  # every attempt failed: an admin retries or cancels
    CANCELLED = "cancelled"  # an admin decided it is not to be sent

    @property
    def label(self) -> str:
        return LABELS[self]


LABELS = {
    EmailStatus.PENDING: "Waiting to be sent",
    EmailStatus.SENDING: "Being sent",
    EmailStatus.SENT: "Sent",
    EmailStatus.FAILED: "Failed, will be retried",
    EmailStatus.UNDELIVERABLE: "Not delivered",
    EmailStatus.CANCELLED: "Cancelled",
}


class OutgoingEmail(db.Model):
    __tablename__ = "outgoing_emails"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Kept across retries, so a receiving server that got it once can drop the copy.
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    attachment_key: Mapped[str | None] = mapped_column(String(300))
    attachment_name: Mapped[str | None] = mapped_column(String(255))
    attachment_type: Mapped[str | None] = mapped_column(String(100))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    status: Mapped[EmailStatus] = mapped_column(
        str_enum(EmailStatus, 20), default=EmailStatus.PENDING, index=True
    )
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[datetime | None]
    # When a failed e-mail is tried again (the job queue's backoff); None when not due.
    next_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]

    incident: Mapped["Incident | None"] = relationship()

    def __str__(self) -> str:
        return f"“{self.subject}” to {self.to_address}"
