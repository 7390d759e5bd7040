"""Reminders e-mailed from cron (`flask --app fieldsvc reminders send`): owners hear of
their follow-ups that are overdue or due within the hour (a promise made is a promise kept),
supervisors and admins of part orders late against their expected delivery and of
proposals the customer has not answered.

Each person gets at most one e-mail a run, listing only what they were not reminded of
yet: a ReminderSent row per person and item-in-its-state (`reminder_key`) is written
with the queued e-mail, so a second run sends nothing new, while a moved due date or
expected date is a new key and is reminded again.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from flask import current_app, render_template
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager, joinedload

from fieldsvc import clock
from fieldsvc.auth.models import Role, User
from fieldsvc.dashboard import drilldowns
from fieldsvc.database import utcnow
from fieldsvc.errors import FieldError
from fieldsvc.extensions import db
from fieldsvc.incidents.models import FollowUp, Incident
from fieldsvc.incidents.services import can_see, can_see_customer
from fieldsvc.mail import services as mail
from fieldsvc.mail.models import OutgoingEmail
from fieldsvc.parts.models import PartOrder
from fieldsvc.proposals.models import Proposal, ProposalRevision
from fieldsvc.reminders.models import ReminderSent
from fieldsvc.webhooks import services as webhooks

# A follow-up due this soon is reminded before it is late (cron runs every 15 minutes).
DUE_SOON = timedelta(hours=1)
# Ordered and not here yet: an expected date in the past makes such an order late.


@dataclass(frozen=True)
class Item:
    """One thing to remind someone of, with its incident and the page to act on it."""

    key: str
    thing: FollowUp | PartOrder | ProposalRevision
    incident: Incident
    link: str


@dataclass
class Digest:
    """What one person is reminded of in one e-mail."""

    recipient: User
    overdue: list[Item] = field(default_factory=list)
    due_soon: list[Item] = field(default_factory=list)
    late_orders: list[Item] = field(default_factory=list)
    unanswered: list[Item] = field(default_factory=list)

    @property
    def sections(self) -> tuple[list[Item], ...]:
        return self.overdue, self.due_soon, self.late_orders, self.unanswered

    @property
    def items(self) -> list[Item]:
        return [item for section in self.sections for item in section]

    def leave_out(self, reminded: set[tuple[int, str]]) -> None:
        """Drop what this person was already reminded of: (recipient id, key) pairs."""
        for section in self.sections:
            section[:] = [item for item in section if (self.recipient.id, item.key) not in reminded]


@dataclass(frozen=True)
class SentReminder:
    """A reminder e-mail queued by this run, and whether it was delivered (None: handed
    to the job queue)."""

    recipient: str
    item_count: int
    email: OutgoingEmail
    delivered: bool | None


def reminder_key(thing: FollowUp | PartOrder | ProposalRevision) -> str:
    """The thing and the state it is reminded in, e.g. `follow_up:12:due:2026-11-23T10:00:00Z`."""
    if isinstance(thing, FollowUp):
        return f"follow_up:{thing.id}:due:{_stamp(thing.due_at)}"
    if isinstance(thing, PartOrder):
        return f"part_order:{thing.id}:expected:{thing.expected_on.isoformat()}"
    return f"proposal:{thing.id}:sent:{_stamp(thing.sent_at)}"


def collect_reminders(now: datetime | None = None) -> list[Digest]:
    """Who is to be reminded of what now, leaving out what each was already reminded of.

    Loads everything in a handful of queries, however many follow-ups, orders and
    proposals there are, and nothing more when the e-mails are rendered."""
    now = now or utcnow()
    digests: dict[int, Digest] = {}

    def digest_for(user: User) -> Digest:
        return digests.setdefault(user.id, Digest(user))

    for follow_up in _open_follow_ups(before=now + DUE_SOON):
        owner, incident = follow_up.owner, follow_up.incident
        # Only what the owner may still see: they may have moved to another team.
        if can_see(owner, incident):
            digest = digest_for(owner)
            section = digest.overdue if follow_up.is_overdue(now) else digest.due_soon
            section.append(_item(follow_up, incident, _incident_link(incident)))

    late_orders = _late_part_orders(now)
    unanswered = _unanswered_revisions(now)
    if late_orders or unanswered:
        for user in _supervisors_and_admins():
            for order in late_orders:
                if can_see_customer(user, order.incident.customer):
                    link = _incident_link(order.incident)
                    digest_for(user).late_orders.append(_item(order, order.incident, link))
            for revision in unanswered:
                incident = revision.proposal.incident
                if can_see_customer(user, incident.customer):
                    link = _proposal_link(revision)
                    digest_for(user).unanswered.append(_item(revision, incident, link))

    reminded = _already_reminded({item.key for digest in digests.values() for item in digest.items})
    for digest in digests.values():
        digest.leave_out(reminded)
    return sorted(
        (digest for digest in digests.values() if digest.items),
        key=lambda digest: (digest.recipient.name, digest.recipient.id),
    )


def send_reminders(
    now: datetime | None = None,
    *,
    deliver: Callable[[OutgoingEmail], bool | None] = mail.deliver_now,
) -> list[SentReminder]:
    """E-mail each person what `collect_reminders` found for them, and record it.

    Per person, the ReminderSent rows and the queued e-mail are committed together
    before any SMTP traffic; then the e-mail is delivered (by the command itself, or
    by the job queue with `deliver=mail.deliver_later`). A failed delivery stays in
    the outbox and is retried there, and is not queued again by the next run.
    """
    announce_late_and_overdue(now)
    db.session.commit()
    # Render every e-mail before the first commit expires the loaded objects.
    composed = [
        (
            digest.recipient.id,
            digest.recipient.email,
            *render_reminder(digest),
            [item.key for item in digest.items],
        )
        for digest in collect_reminders(now)
    ]
    sent: list[SentReminder] = []
    for recipient_id, address, subject, body, keys in composed:
        try:
            with db.session.begin_nested():
                email = mail.queue_email(address, subject, body)
                db.session.add_all(
                    ReminderSent(recipient_id=recipient_id, key=key, email_id=email.id)
                    for key in keys
                )
                db.session.flush()
        except IntegrityError:
            # A run started at the same time reminded them first.
            current_app.logger.info("reminders: %s already reminded by another run", address)
            continue
        except FieldError as error:
            current_app.logger.warning("reminders: not sent to %r: %s", address, error)
            continue
        delivered = deliver(email)
        if delivered is None:
            current_app.logger.info("reminders: %d item(s) for %s queued", len(keys), address)
        elif delivered:
            current_app.logger.info("reminders: sent %d item(s) to %s", len(keys), address)
        else:
            current_app.logger.warning(
                "reminders: %d item(s) for %s left in the outbox (e-mail %d not delivered)",
                len(keys),
                address,
                email.id,
            )
        sent.append(SentReminder(address, len(keys), email, delivered))
    current_app.logger.info(
        "reminders: %d e-mail(s) with %d item(s), %d not delivered",
        len(sent),
        sum(reminder.item_count for reminder in sent),
        sum(reminder.delivered is False for reminder in sent),
    )
    return sent


def announce_late_and_overdue(now: datetime | None = None) -> None:
    """Tell the webhooks of part orders that became late and follow-ups that became
    overdue: once for each in that state (its reminder key), however often the scan runs.
    Flushes; the caller commits."""
    now = now or utcnow()
    if webhooks.subscribed("part_order.late"):
        for order in _late_part_orders(now):
            webhooks.emit("part_order.late", order, once_key=reminder_key(order), now=now)
    if webhooks.subscribed("follow_up.overdue"):
        for follow_up in _open_follow_ups(before=now):
            once_key = reminder_key(follow_up)
            webhooks.emit("follow_up.overdue", follow_up, once_key=once_key, now=now)


# --- what is due ---------------------------------------------------------------------------


def _open_follow_ups(before: datetime) -> list[FollowUp]:
    """Open follow-ups due before `before`, of active owners, with incident and customer."""
    return list(
        db.session.scalars(
            select(FollowUp)
            .join(FollowUp.owner)
            .join(FollowUp.incident)
            .join(Incident.customer)
            .where(FollowUp.closed_at.is_(None), FollowUp.due_at < before, User.active.is_(True))
            .options(
                contains_eager(FollowUp.owner),
                contains_eager(FollowUp.incident).contains_eager(Incident.customer),
            )
            .order_by(FollowUp.due_at, FollowUp.id)
        )
    )


def _late_part_orders(now: datetime) -> list[PartOrder]:
    """Late as the dashboard counts them (drilldowns.late_order)."""
    return list(
        db.session.scalars(
            select(PartOrder)
            .join(PartOrder.incident)
            .join(Incident.customer)
            .join(PartOrder.supplier)
            .where(drilldowns.late_order(now))
            .options(
                contains_eager(PartOrder.incident).contains_eager(Incident.customer),
                contains_eager(PartOrder.supplier),
            )
            .order_by(PartOrder.expected_on, PartOrder.id)
        )
    )


def _unanswered_revisions(now: datetime) -> list[ProposalRevision]:
    """Unanswered as the dashboard counts them (drilldowns.unanswered_revision): still
    sent, FIELDSVC_UNANSWERED_DAYS after sending; an answer or a new revision moves on."""
    return list(
        db.session.scalars(
            select(ProposalRevision)
            .join(ProposalRevision.proposal)
            .join(Proposal.incident)
            .join(Incident.customer)
            .where(drilldowns.unanswered_revision(now))
            .options(
                contains_eager(ProposalRevision.proposal)
                .contains_eager(Proposal.incident)
                .contains_eager(Incident.customer),
                joinedload(ProposalRevision.contact),
            )
            .order_by(ProposalRevision.sent_at, ProposalRevision.id)
        )
    )


def _item(thing: FollowUp | PartOrder | ProposalRevision, incident: Incident, link: str) -> Item:
    return Item(reminder_key(thing), thing, incident, link)


def _supervisors_and_admins() -> list[User]:
    return list(
        db.session.scalars(
            select(User)
            .where(User.active.is_(True), User.role.in_((Role.SUPERVISOR, Role.ADMIN)))
            .order_by(User.id)
        )
    )


def _already_reminded(keys: set[str]) -> set[tuple[int, str]]:
    """(recipient id, key) of the reminders among `keys` that were sent before."""
    if not keys:
        return set()
    rows = db.session.execute(
        select(ReminderSent.recipient_id, ReminderSent.key).where(ReminderSent.key.in_(keys))
    )
    return {(recipient_id, key) for recipient_id, key in rows}


# --- the e-mail ----------------------------------------------------------------------------


def render_reminder(digest: Digest) -> tuple[str, str]:
    """The subject and text of the reminder e-mail."""
    with clock.reading_in(clock.user_zone(digest.recipient)):
        body = render_template(
            "mail/reminders.txt", digest=digest, days=current_app.config["UNANSWERED_DAYS"]
        )
    return _subject(digest), body


def _subject(digest: Digest) -> str:
    counts = [
        (len(digest.overdue), "overdue follow-up", "overdue follow-ups"),
        (len(digest.due_soon), "follow-up due within the hour", "follow-ups due within the hour"),
        (len(digest.late_orders), "late part order", "late part orders"),
        (len(digest.unanswered), "unanswered proposal", "unanswered proposals"),
    ]
    return "Reminder: " + ", ".join(
        f"{number} {one if number == 1 else many}" for number, one, many in counts if number
    )


def _incident_link(incident: Incident) -> str:
    return _link("incidents.detail", incident_id=incident.id)


def _proposal_link(revision: ProposalRevision) -> str:
    return _link("proposals.edit", proposal_id=revision.proposal_id)


def _link(endpoint: str, **values) -> str:
    """FIELDSVC_BASE_URL and the page's path. Built from the URL map, not url_for: cron
    runs outside a request and without SERVER_NAME."""
    path = current_app.url_map.bind("").build(endpoint, values)
    return current_app.config["BASE_URL"] + path


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
