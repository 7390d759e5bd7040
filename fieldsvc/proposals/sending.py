"""Sending an approved proposal: the PDF is rendered once and frozen, the
customer gets it by e-mail with the link to their status page.

Frozen means the bytes are stored and their SHA-256 is on the revision and in the
audit trail; every later download returns those bytes, whatever happens afterwards to
the template, the company settings, the prices or which photos are shown to the
customer (the revision keeps the photos it showed: proposals/photos.py).
"""

import hashlib
from dataclasses import dataclass

from flask import render_template
from sqlalchemy import select

from fieldsvc import clock
from fieldsvc.audit.services import acting
from fieldsvc.auth.models import Role, User
from fieldsvc.database import utcnow
from fieldsvc.errors import NotAllowed
from fieldsvc.extensions import db
from fieldsvc.incidents.models import IncidentStatus
from fieldsvc.mail import services as mail
from fieldsvc.mail.models import OutgoingEmail
from fieldsvc.portal import links
from fieldsvc.proposals import pdf, photos, services
from fieldsvc.proposals.models import ProposalRevision, RevisionStatus
from fieldsvc.storage import get_storage, put_in_transaction
from fieldsvc.webhooks import services as webhooks


@dataclass(frozen=True)
class Sent:
    revision: ProposalRevision
    email: OutgoingEmail
    status_url: str


class SendRefused(NotAllowed):
    """The revision may not go to the customer now; `problems` says why, one each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("Not sent: " + " ".join(problems))
        self.problems = problems


def send_problems(revision: ProposalRevision, sender: User) -> list[str]:
    """Why `sender` may not send this revision now (empty: they may)."""
    problems = []
    if not sender.has_role(Role.SUPERVISOR, Role.ADMIN):
        problems.append("Only supervisors send remediation offers.")
    if revision.status is not RevisionStatus.APPROVED:
        problems.append(
            f"Revision {revision.number} is {revision.status.label.lower()}; "
            "only an approved revision is sent."
        )
    elif revision is not revision.proposal.current:
        problems.append(f"Revision {revision.number} was replaced; send the latest one.")
    # Approved days ago: the visit may have passed or a supplier may have slipped since.
    problems += [f"Send gate: {problem.message}" for problem in services.send_gate(revision)]
    return problems


def send_revision(revision: ProposalRevision, *, sender: User, expected_version: int) -> Sent:
    """Freeze the PDF, open a status link and queue the e-mail; the caller commits and
    then hands the e-mail to the job queue (`mail.deliver_later`), so a failed delivery
    loses nothing."""
    if revision.version != expected_version:
        raise services.Conflict(revision, [])
    if problems := send_problems(revision, sender):
        raise SendRefused(problems)
    incident = revision.proposal.incident
    _link, token = links.issue_link(incident, actor=sender)
    url = links.status_url(token)
    with acting(sender):
        # Sent before rendering, so the frozen PDF's proposal.json says "sent".
        services.move(revision, RevisionStatus.SENT)
        revision.sent_at = utcnow()
        revision.sent_by = sender
        _, totals = services.price(revision)
        revision.customer_pays = totals.customer_pays
        revision.customer_tax = totals.tax
        revision.we_absorb = totals.we_absorb
        # The photos the PDF shows are kept with it: what this customer sees stays so.
        photos.freeze_photos(revision)
        body = pdf.render_proposal_pdf(revision, draft=False, status_url=url)
        revision.pdf_sha256 = hashlib.sha256(body).hexdigest()
        revision.pdf_key = (
            f"proposals/{revision.proposal_id}/"
            f"revision-{revision.number}-{revision.pdf_sha256[:16]}.pdf"
        )
        put_in_transaction(revision.pdf_key, body)
        db.session.flush()
        services.follow_offer(incident, IncidentStatus.REMEDIATION_PROPOSED)
    webhooks.emit("proposal.sent", revision)
    contact = revision.contact
    assert contact is not None and contact.email  # the send gate saw to it
    email = mail.queue_email(
        contact.email,
        f"Remediation proposal for {incident.reference}",
        _customer_email(revision, url),
        attachment_key=revision.pdf_key,
        attachment_name=pdf.pdf_filename(revision),
        attachment_type="application/pdf",
        incident=incident,
    )
    return Sent(revision, email, url)


def _customer_email(revision: ProposalRevision, status_url: str) -> str:
    """The e-mail's text, its times in the zone of the customer's site."""
    incident = revision.proposal.incident
    with clock.reading_in(clock.site_zone(incident.site)):
        return render_template(
            "mail/proposal_sent.txt", revision=revision, incident=incident, status_url=status_url
        )


def frozen_pdf(revision: ProposalRevision) -> bytes | None:
    """The bytes the customer was sent, or None if the revision was never sent."""
    if revision.pdf_key is None:
        return None
    return get_storage().get(revision.pdf_key)


def emails_of(revision: ProposalRevision) -> list[OutgoingEmail]:
    """The e-mails that carried this revision's PDF, with how their delivery went."""
    if revision.pdf_key is None:
        return []
    return list(
        db.session.scalars(
            select(OutgoingEmail)
            .where(OutgoingEmail.attachment_key == revision.pdf_key)
            .order_by(OutgoingEmail.id)
        )
    )
