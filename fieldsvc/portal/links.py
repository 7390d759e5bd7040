"""Status links: the customer's key to one incident's status page, without an account.

The token is 256 random bits, shown once (in the e-mail and the PDF) and stored only
as its SHA-256, so a copy of the database opens no page. A link expires (30 days by
default, FIELDSVC_STATUS_LINK_DAYS) and staff can revoke it and issue a new one.
"""

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import current_app, render_template
from sqlalchemy import Select, bindparam, select, update

from fieldsvc.audit.services import acting
from fieldsvc.auth.models import User
from fieldsvc.customers.models import Contact
from fieldsvc.database import utcnow
from fieldsvc.errors import FieldError
from fieldsvc.extensions import db
from fieldsvc.incidents.models import Incident
from fieldsvc.mail import services as mail
from fieldsvc.mail.models import OutgoingEmail
from fieldsvc.portal.models import StatusLink


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def status_url(token: str) -> str:
    """The address customers open, under FIELDSVC_BASE_URL (never the request's host)."""
    return f"{current_app.config['BASE_URL']}/status/{token}"


def issue_link(incident: Incident, *, actor: User) -> tuple[StatusLink, str]:
    """A new link for the incident; returns it with the token, which is not kept."""
    token = secrets.token_urlsafe(32)
    days = current_app.config["STATUS_LINK_DAYS"]
    with acting(actor):
        link = StatusLink(
            incident=incident,
            token_hash=token_hash(token),
            created_by=actor,
            expires_at=utcnow() + timedelta(days=days),
        )
        db.session.add(link)
        db.session.flush()
    return link, token


def open_link(token: str, now: datetime | None = None) -> StatusLink | None:
    """The link a token opens, or None when it is unknown, expired or revoked: the
    page answers all three the same way, so a guess learns nothing."""
    if not token or len(token) > 100:
        return None
    link = db.session.scalar(select(StatusLink).where(StatusLink.token_hash == token_hash(token)))
    if link is None or not link.is_open(now or utcnow()):
        return None
    return link


def note_opened(link: StatusLink) -> None:
    """Staff see when the customer last looked: a plain UPDATE, not an audited change."""
    db.session.execute(
        update(StatusLink).where(StatusLink.id == link.id).values(last_used_at=utcnow())
    )


def _of_incident(statement: Select) -> Select:
    """`statement` narrowed to one incident's links (bound as `incident_id`), oldest first."""
    return statement.where(StatusLink.incident_id == bindparam("incident_id")).order_by(
        StatusLink.created_at
    )


# Built once: the incident page asks on every view.
_INCIDENT_LINKS = _of_incident(select(StatusLink))


def open_links(incident: Incident, now: datetime | None = None) -> list[StatusLink]:
    now = now or utcnow()
    return [
        link
        for link in db.session.scalars(_INCIDENT_LINKS, {"incident_id": incident.id})
        if link.is_open(now)
    ]


def revoke_links(incident: Incident, *, actor: User, reason: str) -> list[StatusLink]:
    """Close every open link of the incident (a forwarded e-mail, a contact who left)."""
    revoked = open_links(incident)
    with acting(actor, reason=reason):
        for link in revoked:
            link.revoked_at = utcnow()
            link.revoked_by = actor
        db.session.flush()
    return revoked


def reissue_link(incident: Incident, *, actor: User) -> OutgoingEmail:
    """Close the open links and e-mail a new one to the contact of the latest proposal
    sent (or else the person who reported the incident). The caller commits, then delivers."""
    contact = _customer_contact(incident)
    if contact is None or not contact.email:
        raise FieldError(
            "contact", "No customer contact with an e-mail address for this incident; add one."
        )
    revoke_links(incident, actor=actor, reason="replaced by a new link")
    _link, token = issue_link(incident, actor=actor)
    return mail.queue_email(
        contact.email,
        f"Your status page for {incident.reference}",
        render_template(
            "mail/new_link.txt",
            contact=contact,
            incident=incident,
            status_url=status_url(token),
            days=current_app.config["STATUS_LINK_DAYS"],
            sender=actor,
        ),
        incident=incident,
    )


def _customer_contact(incident: Incident) -> Contact | None:
    sent = [
        revision
        for proposal in incident.proposals
        for revision in proposal.revisions
        if revision.sent_at is not None and revision.contact is not None
    ]
    if sent:
        return max(sent, key=lambda revision: revision.sent_at).contact
    return incident.reporter_contact
