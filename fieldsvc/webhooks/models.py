"""Webhooks: the endpoints an admin subscribes, the events the app announces, and the
outbox of deliveries, one per event and subscribed endpoint.

An event is written in the same transaction as the change it announces, with a
delivery row per endpoint that wants it, so a change that is rolled back announces
nothing and a committed one is never lost: the job queue delivers it after the commit,
and the periodic sweep finds one whose job was lost. As with e-mails, the delivery's
status is the lock: a job claims it by a conditional update before any HTTP traffic,
so a job run twice sends once.
"""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fieldsvc.audit.models import Audited
from fieldsvc.database import str_enum, utcnow
from fieldsvc.extensions import db


class EventType(StrEnum):
    INCIDENT_CREATED = "incident.created"
    INCIDENT_RESOLVED = "incident.resolved"
    PART_ORDER_LATE = "part_order.late"
    PROPOSAL_SUBMITTED = "proposal.submitted"
    PROPOSAL_APPROVED = "proposal.approved"
    PROPOSAL_SENT = "proposal.sent"
    PROPOSAL_ANSWERED = "proposal.answered"
    FOLLOW_UP_OVERDUE = "follow_up.overdue"

    @property
    def label(self) -> str:
        return EVENT_LABELS[self]


EVENT_LABELS = {
    EventType.INCIDENT_CREATED: "An incident is recorded",
    EventType.INCIDENT_RESOLVED: "An incident is resolved",
    EventType.PART_ORDER_LATE: "A part order is late",
    EventType.PROPOSAL_SUBMITTED: "A proposal is submitted for approval",
    EventType.PROPOSAL_APPROVED: "A proposal is approved",
    EventType.PROPOSAL_SENT: "A proposal is sent to the customer",
    EventType.PROPOSAL_ANSWERED: "The customer answers a proposal",
    EventType.FOLLOW_UP_OVERDUE: "A follow-up is overdue",
}


EVENT_VALUES = frozenset(event.value for event in EventType)


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # not tried yet
    SENDING = "sending"  # claimed by a delivery job
    DELIVERED = "delivered"
    FAILED = "failed"  # refused or unreachable; tried again later
    GIVEN_UP = "given_up"  # every attempt failed, or the receiver refused it for good

    @property
    def label(self) -> str:
        return DELIVERY_LABELS[self]

    @property
    def badge(self) -> str:
        return DELIVERY_BADGES[self]


DELIVERY_LABELS = {
    DeliveryStatus.PENDING: "Waiting to be sent",
    DeliveryStatus.SENDING: "Being sent",
    DeliveryStatus.DELIVERED: "Delivered",
    DeliveryStatus.FAILED: "Failed, will be retried",
    DeliveryStatus.GIVEN_UP: "Not delivered",
}
DELIVERY_BADGES = {
    DeliveryStatus.PENDING: "badge",
    DeliveryStatus.SENDING: "badge",
    DeliveryStatus.DELIVERED: "badge status-approved",
    DeliveryStatus.FAILED: "badge status-submitted",
    DeliveryStatus.GIVEN_UP: "badge late",
}


class WebhookEndpoint(Audited, db.Model):
    """Where an integration wants to hear of events, and the secret it verifies them with."""

    __tablename__ = "webhook_endpoints"
    # The receiver needs the secret itself to check signatures, so it is kept (not hashed)
    # and never written to the audit trail.
    __audit_redacted__ = frozenset({"secret"})

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    secret: Mapped[str] = mapped_column(String(100))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    secret_rotated_at: Mapped[datetime | None]

    def __str__(self) -> str:
        return self.description or self.url

    @property
    def title(self) -> str:
        """What a page calls it: its description, or its number (a URL is too long)."""
        return self.description or f"endpoint {self.id}"

    @property
    def event_labels(self) -> list[str]:
        return [EventType(value).label for value in self.event_types if value in EVENT_VALUES]


class WebhookEvent(db.Model):
    """Something that happened, as announced: its id and body are the same on every
    attempt and every replay, so a receiver can drop a copy it already has."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The `webhook-id` header.
    message_id: Mapped[str] = mapped_column(String(40), unique=True)
    type: Mapped[str] = mapped_column(String(40))
    # The exact JSON body that is signed and sent.
    body: Mapped[str] = mapped_column(Text)
    # For what the periodic scan finds (a late order, an overdue follow-up): the thing
    # and the state it was found in, so it is announced once and not on every scan.
    once_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def label(self) -> str:
        return EventType(self.type).label if self.type in EVENT_VALUES else self.type


class WebhookDelivery(db.Model):
    """One event to one endpoint: the outbox row a delivery job claims."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        # The delivery log: an endpoint's latest deliveries first.
        Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"))
    event_id: Mapped[int] = mapped_column(ForeignKey("webhook_events.id"), index=True)
    status: Mapped[DeliveryStatus] = mapped_column(
        str_enum(DeliveryStatus, 20), default=DeliveryStatus.PENDING, index=True
    )
    attempts: Mapped[int] = mapped_column(default=0)
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]

    endpoint: Mapped[WebhookEndpoint] = relationship()
    event: Mapped[WebhookEvent] = relationship()

    def __str__(self) -> str:
        return f"{self.event.type} {self.event.message_id}"


class WebhookAttempt(db.Model):
    """One try at a delivery: when, what the receiver answered, how long it took."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None]
    # The start of the receiver's answer, or why there was none.
    outcome: Mapped[str] = mapped_column(String(500))
    duration_ms: Mapped[int]
