"""Webhook endpoints and events: subscribe, announce a change, replay a delivery.

A service that changes something an integration waits for calls `emit` once, inside
its transaction: the event and a delivery per subscribed endpoint are flushed with the
change, and handed to the job queue only once the transaction commits (a session hook
below), so a receiver never hears of a change that was rolled back.
"""

import base64
import json
import secrets
from collections.abc import Sequence
from datetime import datetime

from flask import current_app
from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction, selectinload

from fieldsvc.audit.services import acting, record
from fieldsvc.auth.models import User
from fieldsvc.database import utcnow
from fieldsvc.errors import FieldError, InvalidTransition
from fieldsvc.extensions import db
from fieldsvc.webhooks import addresses, events
from fieldsvc.webhooks.models import (
    DeliveryStatus,
    EventType,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

SECRET_PREFIX = "whsec_"
# Standard Webhooks asks for 24 to 64 random bytes.
SECRET_BYTES = 32
DELIVERY_LOG_SIZE = 50


def allow_list() -> addresses.AllowList:
    return addresses.AllowList.parse(current_app.config["WEBHOOK_ALLOW"])


def new_secret() -> str:
    """A signing secret as Standard Webhooks writes it: whsec_ and base64 of random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


# --- endpoints -----------------------------------------------------------------------------


def create_endpoint(
    url: str, event_types: Sequence[str], *, description: str = "", actor: User
) -> WebhookEndpoint:
    """Subscribe a URL to events, with a new secret (shown to the admin once). Flushes."""
    url, event_types = _checked(url, event_types)
    with acting(actor):
        endpoint = WebhookEndpoint(
            url=url,
            description=description.strip(),
            event_types=event_types,
            enabled=True,
            secret=new_secret(),
            created_by_id=actor.id,
        )
        db.session.add(endpoint)
        db.session.flush()
    return endpoint


def update_endpoint(
    endpoint: WebhookEndpoint,
    url: str,
    event_types: Sequence[str],
    *,
    description: str,
    enabled: bool,
    actor: User,
) -> None:
    """Change where an endpoint points, what it hears of, or switch it off. Flushes."""
    url, event_types = _checked(url, event_types)
    with acting(actor):
        endpoint.url = url
        endpoint.event_types = event_types
        endpoint.description = description.strip()
        endpoint.enabled = enabled
        db.session.flush()


def rotate_secret(endpoint: WebhookEndpoint, *, actor: User) -> str:
    """Replace the endpoint's secret; the new one is returned to be shown once. Flushes."""
    with acting(actor, reason="secret rotated"):
        endpoint.secret = new_secret()
        endpoint.secret_rotated_at = utcnow()
        db.session.flush()
    return endpoint.secret


def _checked(url: str, event_types: Sequence[str]) -> tuple[str, list[str]]:
    url = url.strip()
    if len(url) > WebhookEndpoint.url.type.length:
        raise FieldError("url", "Keep the URL under 2,000 characters.")
    try:
        addresses.check_url(url, allow_list())
    except addresses.AddressRefused as refused:
        raise FieldError("url", str(refused)) from None
    chosen = [value for value in EventType if value in set(event_types)]
    if not chosen or len(chosen) != len(set(event_types)):
        raise FieldError("event_types", "Choose at least one of the events listed.")
    return url, [value.value for value in chosen]


def endpoints() -> list[WebhookEndpoint]:
    return list(db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def recent_deliveries(endpoint: WebhookEndpoint) -> list[WebhookDelivery]:
    """The delivery log: the endpoint's latest deliveries, newest first."""
    return list(
        db.session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint.id)
            .options(selectinload(WebhookDelivery.event))
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
            .limit(DELIVERY_LOG_SIZE)
        )
    )


# --- events --------------------------------------------------------------------------------


def emit(
    event_type: EventType | str,
    subject: events.Subject,
    *,
    once_key: str | None = None,
    now: datetime | None = None,
) -> WebhookEvent | None:
    """Announce a change to the endpoints subscribed to `event_type`, in the caller's
    transaction (flushes; delivered after the commit). None when no endpoint wants it,
    or when `once_key` was announced before."""
    event_type = EventType(event_type)
    if not (endpoints := subscribed(event_type)):
        return None
    if once_key is not None and db.session.scalar(
        select(WebhookEvent.id).where(WebhookEvent.once_key == once_key)
    ):
        return None
    now = now or utcnow()
    body = {
        "type": event_type.value,
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "data": events.data_of(subject),
    }
    announced = WebhookEvent(
        message_id=f"msg_{secrets.token_urlsafe(18)}",
        type=event_type.value,
        body=json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        once_key=once_key,
        created_at=now,
    )
    db.session.add(announced)
    deliveries = [
        WebhookDelivery(endpoint=endpoint, event=announced, status=DeliveryStatus.PENDING)
        for endpoint in endpoints
    ]
    db.session.add_all(deliveries)
    db.session.flush()
    _to_queue(db.session()).extend(delivery.id for delivery in deliveries)
    return announced


def subscribed(event_type: EventType | str) -> list[WebhookEndpoint]:
    """The endpoints switched on that want this event (a handful: filtered here, as JSON
    lists are searched differently by SQLite and PostgreSQL)."""
    return [
        endpoint
        for endpoint in db.session.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True))
        )
        if EventType(event_type).value in endpoint.event_types
    ]


def replay_delivery(delivery: WebhookDelivery, *, actor: User) -> None:
    """An admin sends a delivery again, the same event id and body, with a fresh set of
    attempts. Flushes; it is queued when the caller commits."""
    if delivery.status is DeliveryStatus.SENDING:
        raise InvalidTransition("This delivery is being sent right now; replay it once it is done.")
    record(
        delivery,
        "webhook_replay",
        {
            "status": delivery.status.value,
            "attempts": delivery.attempts,
            "last_error": delivery.last_error,
            "by": actor.id,
        },
    )
    delivery.status = DeliveryStatus.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = None
    db.session.flush()
    _to_queue(db.session()).append(delivery.id)


# --- handed to the job queue after the commit ---------------------------------------------

_EMITTED = "webhooks_emitted"
_COMMITTED = "webhooks_committed"


def _to_queue(session: Session) -> list[int]:
    return session.info.setdefault(_EMITTED, [])


@event.listens_for(Session, "after_commit")
def _remember_committed(session: Session) -> None:
    # A released savepoint is not a commit: its work can still be rolled back.
    if session.in_nested_transaction() or not session.info.get(_EMITTED):
        return
    session.info.setdefault(_COMMITTED, []).extend(session.info.pop(_EMITTED))


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous: SessionTransaction) -> None:
    if previous.parent is None:
        session.info.pop(_EMITTED, None)


@event.listens_for(Session, "after_transaction_end")
def _queue_committed(session: Session, transaction: SessionTransaction) -> None:
    """Queue the deliveries once the transaction that wrote them is over: the session
    may run SQL again here, which a job run in place (JOBS_IMMEDIATE) needs."""
    if transaction.parent is not None or not session.info.get(_COMMITTED):
        return
    from fieldsvc.webhooks.delivery import deliver_later

    for delivery_id in session.info.pop(_COMMITTED):
        deliver_later(delivery_id)
