"""What a customer does on their status page: read a plain-language
timeline, accept a sent proposal, ask for changes or decline it, report a new
incident and, once it is resolved, say how we did.

Customers have no account: their actions are audited with no actor and the reason
names them ("accepted by Jane Doe on the status page"); the response row keeps the
time, IP address and the SHA-256 of the PDF they saw.

A customer who answers by phone, on paper, by e-mail or in person has it recorded by a
supervisor as their answer (`record_answer`): audited with the supervisor as actor, with
how and when it was given, the name the customer gave and the scan of a signed copy. It
does exactly what the same answer on the status page does; nothing else moves an offer
to accepted or declined.
"""

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import render_template
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from fieldsvc import clock
from fieldsvc.audit.services import acting, events_about
from fieldsvc.auth.models import Role, User
from fieldsvc.database import utcnow
from fieldsvc.errors import DomainError, FieldError, InvalidTransition, NotAllowed, StaleVersion
from fieldsvc.extensions import db
from fieldsvc.incidents import services as incidents
from fieldsvc.incidents.models import (
    CauseCategory,
    FollowUp,
    Incident,
    IncidentStatus,
    ReportedVia,
    Severity,
)
from fieldsvc.mail import services as mail
from fieldsvc.mail.models import OutgoingEmail
from fieldsvc.parts.models import PartOrder, PartOrderStatus
from fieldsvc.portal.models import (
    RECORDED_CHANNELS,
    AnswerChannel,
    CustomerResponse,
    ResponseKind,
    StatusLink,
    SurveyResponse,
)
from fieldsvc.portal.scans import Scan
from fieldsvc.proposals import services as proposals
from fieldsvc.proposals.models import ProposalRevision, RevisionStatus
from fieldsvc.proposals.photos import CustomerPhoto, customer_photos
from fieldsvc.storage import put_in_transaction
from fieldsvc.template_filters import local_time, long_date
from fieldsvc.webhooks import services as webhooks

DECLINE_REASONS = {
    "price": "The price is too high",
    "other_company": "We will have it done by someone else",
    "not_needed": "It is no longer needed",
    "disagree": "We do not agree with the proposal",
    "other": "Another reason",
}
# The incident's status as the customer reads it.
CUSTOMER_STATUS = {
    IncidentStatus.OPEN: "We are working on it",
    IncidentStatus.REMEDIATION_PROPOSED: "Waiting for your answer to our proposal",
    IncidentStatus.REMEDIATION_ACCEPTED: "You accepted our proposal; the work is planned",
    IncidentStatus.RESOLVED: "Resolved",
    IncidentStatus.CLOSED: "Resolved and closed",
    IncidentStatus.CANCELLED: "Cancelled",
}
RESOLVED_STATUSES = frozenset({IncidentStatus.RESOLVED, IncidentStatus.CLOSED})
# An offer still out when its incident is cancelled or closed no longer stands: the
# customer can read it but not accept it into work nobody will do.
NO_LONGER_ANSWERABLE = frozenset({IncidentStatus.CANCELLED, IncidentStatus.CLOSED})
# Staff promise to answer a customer's request or report within this time.
ANSWER_WITHIN = timedelta(hours=4)


# --- the offer on the page ---------------------------------------------------------------


@dataclass(frozen=True)
class Offer:
    revision: ProposalRevision  # the latest revision sent to the customer
    previous: ProposalRevision | None  # the one sent before it, if any
    differences: list[proposals.Difference]

    @property
    def open(self) -> bool:
        return self.revision.status is RevisionStatus.SENT and not self.withdrawn

    @property
    def withdrawn(self) -> bool:
        """Sent and never answered, but its incident was cancelled or closed since."""
        return (
            self.revision.status is RevisionStatus.SENT
            and self.revision.proposal.incident.status in NO_LONGER_ANSWERABLE
        )


def offers(incident: Incident) -> list[Offer]:
    """The latest sent revision of each of the incident's proposals, newest first."""
    found = []
    for proposal in incident.proposals:
        sent = [r for r in proposal.revisions if r.sent_at is not None]
        if not sent:
            continue
        latest, previous = sent[-1], (sent[-2] if len(sent) > 1 else None)
        changes = proposals.differences(previous, latest) if previous else []
        found.append(Offer(latest, previous, changes))
    return sorted(found, key=lambda offer: offer.revision.sent_at, reverse=True)


def offer_for(link: StatusLink, revision_id: int) -> ProposalRevision:
    """A sent revision of the link's incident, or the page's uniform 404."""
    for offer in offers(link.incident):
        if offer.revision.id == revision_id:
            return offer.revision
        if offer.previous is not None and offer.previous.id == revision_id:
            raise StaleVersion(
                "A newer version of this proposal was sent since you opened the page; "
                "reload the page to see it."
            )
    raise LookupError(revision_id)


def offer_photos(offer: Offer) -> list[CustomerPhoto]:
    """The photos the offer's revision was sent with, captions as they were then."""
    return customer_photos(offer.revision)


def photo_for(link: StatusLink, attachment_id: int) -> CustomerPhoto:
    """A photo one of the page's offers was sent with, or the page's uniform 404: a photo
    kept for us, or shown only after the offer was sent, is not there to be fetched."""
    for offer in offers(link.incident):
        for photo in offer_photos(offer):
            if photo.attachment.id == attachment_id:
                return photo
    raise LookupError(attachment_id)


# --- answering a proposal ----------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    kind: ResponseKind
    full_name: str = ""
    comment: str = ""
    reason: str | None = None


@dataclass(frozen=True)
class Visitor:
    """Who answered, as far as the web request tells: kept with the answer."""

    ip_address: str
    user_agent: str = ""


def respond(
    link: StatusLink,
    revision: ProposalRevision,
    answer: Answer,
    *,
    pdf_sha256: str,
    visitor: Visitor,
) -> tuple[CustomerResponse, list[OutgoingEmail]]:
    """Record the customer's answer to a sent revision and tell the staff; the caller
    commits and then delivers the e-mails."""
    full_name, comment = answer.full_name.strip(), answer.comment.strip()
    _check_answer(answer.kind, full_name, comment, answer.reason)
    if revision.status is not RevisionStatus.SENT:
        raise StaleVersion(
            f"This proposal was already answered ({revision.status.label.lower()}); "
            "reload the page to see where it stands."
        )
    if pdf_sha256 != revision.pdf_sha256:
        raise StaleVersion(
            "The proposal changed since you opened the page; reload it and read it again."
        )
    if (why := _withdrawn_because(revision)) is not None:
        raise StaleVersion(why)
    response = CustomerResponse(
        revision=revision,
        channel=AnswerChannel.PORTAL,
        status_link=link,
        kind=answer.kind,
        full_name=full_name or None,
        reason=answer.reason if answer.kind is ResponseKind.DECLINED else None,
        comment=comment,
        ip_address=visitor.ip_address[:45],
        user_agent=visitor.user_agent[:300],
        pdf_sha256=revision.pdf_sha256,
    )
    # At once: it hangs off the revision already, and the next read may autoflush.
    db.session.add(response)
    who = full_name or "the customer"
    _take_answer(
        response, actor=None, reason=f"{answer.kind.label.lower()} by {who} on the status page"
    )
    return response, _tell_staff(revision, response)


def _check_answer(kind: ResponseKind, full_name: str, comment: str, reason: str | None) -> None:
    if kind is ResponseKind.ACCEPTED and len(full_name) < 2:
        raise FieldError("full_name", "Type your full name to accept the proposal.")
    if kind is ResponseKind.CHANGES_REQUESTED and not comment:
        raise FieldError("comment", "Tell us what you would like us to change.")
    if kind is ResponseKind.DECLINED:
        if reason not in DECLINE_REASONS:
            raise FieldError("reason", "Choose why you decline the proposal.")
        if reason == "other" and not comment:
            raise FieldError("comment", "Tell us why you decline the proposal.")
    if len(full_name) > 200:
        raise FieldError("full_name", "Type at most 200 characters.")
    if len(comment) > 5000:
        raise FieldError("comment", "Please keep it under 5,000 characters.")


def _take_answer(response: CustomerResponse, *, actor: User | None, reason: str) -> None:
    """What an answer does, however it came: the revision and the incident follow it, a
    decline starts returning the parts, a request for changes goes back to the author."""
    db.session.add(response)
    revision = response.revision
    incident = revision.proposal.incident
    try:
        with acting(actor, reason=reason):
            db.session.flush()
            if response.kind is ResponseKind.ACCEPTED:
                proposals.move(revision, RevisionStatus.ACCEPTED)
                db.session.flush()
                proposals.follow_offer(incident, IncidentStatus.REMEDIATION_ACCEPTED)
            elif response.kind is ResponseKind.DECLINED:
                because = DECLINE_REASONS[response.reason or "other"]
                proposals.decline_revision(
                    revision, reason=f"{because}. {response.comment}".strip(), actor=actor
                )
            else:
                proposals.move(revision, RevisionStatus.CUSTOMER_CHANGES)
                db.session.flush()
                _promise(
                    incident,
                    revision.proposal.author_id,
                    f"{response.full_name or 'The customer'} asked for changes to revision "
                    f"{revision.number} of the proposal: “{response.comment}”. "
                    "Send a new revision or call back.",
                )
            webhooks.emit("proposal.answered", response)
    except (IntegrityError, StaleDataError):
        # Answered a moment ago in another request (a double tap, two people at once).
        db.session.rollback()
        raise StaleVersion(
            "This proposal was answered a moment ago; reload the page to see the answer."
        ) from None


# --- an answer given to a supervisor ------------------------------------------------------

# A tablet's clock may run a little behind the server's.
ANSWER_CLOCK_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class TakenAnswer:
    """An answer the customer gave by phone, on paper, by e-mail or in person."""

    answer: Answer
    channel: AnswerChannel
    answered_at: datetime
    scan: Scan | None = None


def record_answer(
    revision: ProposalRevision,
    taken: TakenAnswer,
    *,
    actor: User,
    now: datetime | None = None,
) -> tuple[CustomerResponse, list[OutgoingEmail]]:
    """Record, as the customer's answer to a sent revision, what they told a supervisor:
    it does what the same answer on the status page does. The caller commits and then
    delivers the e-mails."""
    now = now or utcnow()
    incident = revision.proposal.incident
    if not incidents.can_see(actor, incident):
        raise NotAllowed("No such proposal, or it belongs to another team.")
    if not actor.has_role(Role.SUPERVISOR, Role.ADMIN):
        raise NotAllowed(
            "Only a supervisor records an answer the customer gave by phone or on paper."
        )
    check_answerable(revision)
    answer = taken.answer
    full_name, comment = answer.full_name.strip(), answer.comment.strip()
    _check_taken_answer(taken, full_name, comment, revision, now)
    response = CustomerResponse(
        revision=revision,
        channel=taken.channel,
        kind=answer.kind,
        full_name=full_name,
        reason=answer.reason if answer.kind is ResponseKind.DECLINED else None,
        comment=comment,
        pdf_sha256=revision.pdf_sha256,
        created_at=taken.answered_at,
        recorded_by=actor,
        recorded_at=now,
    )
    # At once: it hangs off the revision already, and the next read may autoflush.
    db.session.add(response)
    if (scan := taken.scan) is not None:
        response.scan_key = (
            f"proposals/{revision.proposal_id}/answers/revision-{revision.number}-"
            f"{scan.sha256[:16]}-{secrets.token_hex(4)}.{scan.extension}"
        )
        response.scan_sha256 = scan.sha256
        response.scan_content_type = scan.content_type
        response.scan_size = scan.size
        # Deleted again if the answer is not saved (a race, a rollback).
        put_in_transaction(response.scan_key, scan.data)
    how = taken.channel.label.lower()
    _take_answer(
        response,
        actor=actor,
        reason=f"{answer.kind.label.lower()} {how} by {full_name}, taken by {actor.name}",
    )
    return response, _tell_staff(revision, response)


def check_answerable(revision: ProposalRevision) -> None:
    """Refuse a revision the customer cannot answer now, saying why."""
    n = revision.number
    if revision.sent_at is None:
        raise InvalidTransition(
            f"Revision {n} was not sent to the customer; only a sent proposal can be answered."
        )
    status = revision.status
    if status is RevisionStatus.SENT:
        if (why := _withdrawn_because(revision)) is not None:
            raise InvalidTransition(why)
        return
    if status is RevisionStatus.SUPERSEDED:
        raise InvalidTransition(
            f"Revision {n} was replaced by a newer revision; the customer answers the one "
            "sent to them last."
        )
    if status is RevisionStatus.EXPIRED:
        until = f" on {long_date(revision.valid_until)}" if revision.valid_until else ""
        raise InvalidTransition(
            f"Revision {n} expired{until}; send a new revision for the customer to answer."
        )
    raise InvalidTransition(
        f"Revision {n} was already answered ({status.label.lower()}); the first answer stands."
    )


def _withdrawn_because(revision: ProposalRevision) -> str | None:
    """Why a sent offer can no longer be answered, or None while it stands."""
    incident = revision.proposal.incident
    if incident.status not in NO_LONGER_ANSWERABLE:
        return None
    return (
        f"{incident.reference} was {incident.status.label.lower()}, so this proposal no longer "
        "stands and cannot be answered; call us if you still want the work done."
    )


def _check_taken_answer(
    taken: TakenAnswer, full_name: str, comment: str, revision: ProposalRevision, now: datetime
) -> None:
    kind, reason = taken.answer.kind, taken.answer.reason
    if taken.channel not in RECORDED_CHANNELS:
        raise FieldError(
            "channel", "Say how the customer answered: by phone, on paper, by e-mail or in person."
        )
    if len(full_name) < 2:
        raise FieldError("full_name", "Enter the customer's name as they gave it.")
    if len(full_name) > 200:
        raise FieldError("full_name", "Enter at most 200 characters.")
    if kind is ResponseKind.CHANGES_REQUESTED and not comment:
        raise FieldError("comment", "Write down what the customer asked to change.")
    if kind is ResponseKind.DECLINED:
        if reason not in DECLINE_REASONS:
            raise FieldError("reason", "Choose the reason the customer gave for declining.")
        if reason == "other" and not comment:
            raise FieldError("comment", "Write down why the customer declined.")
    if len(comment) > 5000:
        raise FieldError("comment", "Keep it under 5,000 characters.")
    if taken.answered_at > now + ANSWER_CLOCK_TOLERANCE:
        raise FieldError("answered_at", "The customer's answer cannot be in the future.")
    assert revision.sent_at is not None  # check_answerable saw to it
    # Typed to the minute: an answer in the minute the proposal was sent is after it.
    if taken.answered_at < revision.sent_at.replace(second=0, microsecond=0):
        raise FieldError(
            "answered_at",
            f"The proposal was sent {local_time(revision.sent_at)}; the customer cannot have "
            "answered before that.",
        )


def _tell_staff(revision: ProposalRevision, response: CustomerResponse) -> list[OutgoingEmail]:
    """The author and the sender hear of the answer at once, by e-mail."""
    incident = revision.proposal.incident
    people = {
        user.id: user
        for user in (revision.proposal.author, revision.sent_by)
        if user is not None and user.active and user.email
    }
    return [
        mail.queue_email(
            user.email,
            f"{incident.reference}: the customer {response.kind.label.lower()} the proposal",
            _staff_email(
                user,
                "mail/customer_answered.txt",
                revision=revision,
                incident=incident,
                response=response,
                reasons=DECLINE_REASONS,
            ),
            incident=incident,
        )
        for user in people.values()
    ]


def _staff_email(user: User, template: str, **context) -> str:
    """An e-mail's text for a member of staff, its times in their own zone (the page
    that sends it is the customer's, in the site's zone)."""
    with clock.reading_in(clock.user_zone(user)):
        return render_template(template, user=user, **context)


def _promise(incident: Incident, owner_id: int, promise: str) -> FollowUp:
    follow_up = FollowUp(
        incident=incident,
        owner_id=owner_id,
        created_by_id=owner_id,
        due_at=utcnow() + ANSWER_WITHIN,
        promise=promise,
    )
    db.session.add(follow_up)
    db.session.flush()
    return follow_up


# --- reporting a new incident and the survey ------------------------------------------------


@dataclass(frozen=True)
class PortalReport:
    site_id: int | None
    what_happened: str
    name: str
    phone: str = ""


def report_incident(link: StatusLink, report: PortalReport) -> tuple[Incident, list[OutgoingEmail]]:
    """A new incident of the same customer, reported via the portal; whoever sent the
    link (or recorded the first incident) promises to call back."""
    customer = link.incident.customer
    site = None
    if report.site_id is not None:
        site = next((s for s in customer.sites if s.id == report.site_id and s.active), None)
        if site is None:
            raise FieldError("site_id", f"Choose one of the sites of {customer.name}.")
    what, name, phone = report.what_happened.strip(), report.name.strip(), report.phone.strip()
    if not what:
        raise FieldError("what_happened", "Describe what happened.")
    if not name:
        raise FieldError("name", "Tell us your name so we can call you back.")
    now = utcnow()
    owner = link.created_by
    with acting(None, reason=f"reported by {name} on the status page"):
        incident = Incident(
            reference=incidents.allocate_reference(now.year),
            customer=customer,
            site=site,
            severity=Severity.MEDIUM,
            reported_via=ReportedVia.PORTAL,
            reporter_name=name[:200],
            reporter_phone=phone[:50] or None,
            actual=what[:5000],
            occurred_at=now,
            cause_category=CauseCategory.UNKNOWN,
            created_at=now,
        )
        db.session.add(incident)
        db.session.flush()
        _promise(
            incident,
            owner.id,
            f"Call {name}{f' ({phone})' if phone else ''} back about the incident they "
            "reported on the status page.",
        )
    webhooks.emit("incident.created", incident)
    email = mail.queue_email(
        owner.email,
        f"{incident.reference}: new incident reported by {customer.name} on the status page",
        _staff_email(owner, "mail/portal_report.txt", incident=incident, link=link),
        incident=incident,
    )
    return incident, [email]


def survey_open(incident: Incident) -> bool:
    return incident.status in RESOLVED_STATUSES and _survey(incident) is None


def _survey(incident: Incident) -> SurveyResponse | None:
    return db.session.scalar(
        db.select(SurveyResponse).where(SurveyResponse.incident_id == incident.id)
    )


def answer_survey(link: StatusLink, score: int | None, comment: str) -> SurveyResponse:
    incident = link.incident
    if incident.status not in RESOLVED_STATUSES:
        raise DomainError("The survey opens once the incident is resolved.")
    if score is None or not 0 <= score <= 10:
        raise FieldError("score", "Choose a score from 0 to 10.")
    if _survey(incident) is not None:
        raise StaleVersion("Thank you: this survey was already answered.")
    survey = SurveyResponse(
        incident=incident, status_link=link, score=score, comment=comment.strip()[:5000]
    )
    try:
        with acting(None, reason="satisfaction survey on the status page"):
            db.session.add(survey)
            db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise StaleVersion("Thank you: this survey was already answered.") from None
    return survey


# --- the timeline, in the customer's words -----------------------------------------------


@dataclass(frozen=True)
class Step:
    on: date | datetime
    text: str
    done: bool = True  # False: planned, not yet happened
    replaced: bool = False  # an earlier expected date, since moved


def timeline(
    incident: Incident, now: datetime | None = None, sent: Sequence[Offer] | None = None
) -> list[Step]:
    """Reported, parts ordered, parts arriving on … (each change of the supplier's date),
    proposal sent and answered, visit planned, resolved: oldest first. `sent`: the
    incident's offers when the caller has them already."""
    now = now or utcnow()
    steps = [Step(incident.created_at, "We recorded the problem you reported.")]
    orders = [o for o in incident.part_orders if o.status is not PartOrderStatus.CANCELLED]
    events = events_about(incident, *orders)
    for order in orders:
        steps += _part_steps(order, [e for e in events if e.object_type == "PartOrder"])
    for offer in offers(incident) if sent is None else sent:
        for revision in filter(None, (offer.previous, offer.revision)):
            steps.append(Step(revision.sent_at, _sent_text(revision)))
            if revision.response is not None:
                steps.append(Step(revision.response.created_at, _answer_text(revision.response)))
        visit = offer.revision.return_visit_at
        if visit is not None and offer.revision.status in (
            RevisionStatus.SENT,
            RevisionStatus.ACCEPTED,
        ):
            steps += _visit_steps(incident, visit, now)
    for event in events:
        status = (event.changes.get("status") or [None, None])[1]
        if event.object_type == "Incident" and status == IncidentStatus.RESOLVED.value:
            steps.append(Step(event.at, "Resolved."))
    # By day only: a stable sort keeps the order above within a day (an order placed
    # "today" is a date, and must not come before the report made this afternoon).
    return sorted(steps, key=lambda step: _day(step.on))


def _visit_steps(incident: Incident, visit: datetime, now: datetime) -> list[Step]:
    """The return visit in the tense of what happened: planned while the incident is open,
    done once its time has passed; once resolved (or cancelled) nothing is planned any
    more, so a visit whose time had not come is not mentioned."""
    if visit <= now:
        return [Step(visit, "Our technician came back to do the work.")]
    if incident.status in RESOLVED_STATUSES | {IncidentStatus.CANCELLED}:
        return []
    return [Step(visit, "Our technician comes back to do the work.", done=False)]


def _part_steps(order: PartOrder, events) -> list[Step]:
    if order.ordered_on is None:
        return []
    items = sum(line.quantity for line in order.lines)
    steps = [Step(order.ordered_on, f"We ordered the parts ({_count(items)}).")]
    expected = [
        (event.at, date.fromisoformat(event.changes["expected_on"][1]))
        for event in events
        if event.object_id == order.id and (event.changes.get("expected_on") or [None, None])[1]
    ]
    for n, (at, arriving) in enumerate(expected):
        if n == 0:
            text = f"The supplier expects to deliver the parts on {long_date(arriving)}."
        else:
            text = f"The supplier moved the delivery of the parts to {long_date(arriving)}."
        replaced = n < len(expected) - 1 or order.received_on is not None
        steps.append(Step(at, text, replaced=replaced))
    if order.received_on is not None:
        steps.append(Step(order.received_on, "The parts arrived."))
    return steps


def _count(items) -> str:
    items = int(items) if items == int(items) else items
    return f"{items} item{'s' if items != 1 else ''}"


def _sent_text(revision: ProposalRevision) -> str:
    if revision.number == 1:
        return "We sent you our proposal to put it right."
    return f"We sent you a new version of the proposal (revision {revision.number})."


def _answer_text(response: CustomerResponse) -> str:
    who = response.full_name or "You"
    how = f" {response.channel.label.lower()}" if response.recorded else ""
    return {
        ResponseKind.ACCEPTED: f"{who} accepted the proposal{how}.",
        ResponseKind.CHANGES_REQUESTED: f"You asked us to change the proposal{how}.",
        ResponseKind.DECLINED: f"You declined the proposal{how}.",
    }[response.kind]


def _day(value: date | datetime) -> date:
    return (
        clock.to_local(value, clock.reader_zone()).date() if isinstance(value, datetime) else value
    )
