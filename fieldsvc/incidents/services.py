"""The rules of incidents: who sees which, how one is reported, its photos, work log,
communications, the follow-ups promised to the customer, and its status changes. What
the pages and lists read is in queries.py.

Who sees an incident: admins see every incident; everyone else sees the incidents
of the customers their team serves (Customer.team). A user without a team sees
none. Anything else gets 404, so an incident's existence is not given away.
"""

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    event,
    false,
    func,
    inspect,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from fieldsvc import clock
from fieldsvc.audit.services import acting, record
from fieldsvc.auth.models import Role, User
from fieldsvc.customers.models import Contact, Customer, Equipment, Site
from fieldsvc.database import utcnow
from fieldsvc.errors import DomainError, FieldError, InvalidTransition, NotAllowed
from fieldsvc.extensions import db
from fieldsvc.incidents import search  # noqa: F401  (its hooks keep the equipment tags)
from fieldsvc.incidents.models import (
    CAPTION_MAX,
    OFFER_TRANSITIONS,
    STAFF_TRANSITIONS,
    Attachment,
    CauseCategory,
    Channel,
    Communication,
    Direction,
    FollowUp,
    FollowUpOutcome,
    Incident,
    IncidentCounter,
    IncidentEquipment,
    IncidentStatus,
    ReportedVia,
    Severity,
    WorkLogEntry,
)
from fieldsvc.incidents.photos import ProcessedPhoto
from fieldsvc.ranges import HAPPENED, PLANNED, WORK_MINUTES, window
from fieldsvc.storage import put_in_transaction
from fieldsvc.webhooks import services as webhooks

# A tablet's clock may run a little ahead; more than this is a typing mistake.
FUTURE_TOLERANCE = timedelta(days=1)


# --- who sees what --------------------------------------------------------------------


def customers_visible_to(user: User) -> ColumnElement[bool]:
    """A condition on Customer: the customers whose incidents `user` may see."""
    return customers_visible_for(*visibility_key(user))


def visibility_key(user: User) -> tuple[bool, int | None]:
    """All that decides which customers `user` may see: an admin sees every customer,
    anyone else their team's."""
    return user.has_role(Role.ADMIN), user.team_id


def customers_visible_for(admin: bool, team_id: int | None) -> ColumnElement[bool]:
    """A condition on Customer for a `visibility_key`: statements built once per kind of
    reader (the lists' and pages' are cached by it) take it rather than the user."""
    if admin:
        return true()
    if team_id is None:
        return false()
    return Customer.team_id == team_id


def incidents_visible_to(user: User) -> ColumnElement[bool]:
    """A condition on Incident: the incidents `user` may see.

    A filter, never the index to start from: `+ 0` keeps the term off the customer
    index, as SQLite documents. A team's customers hold a fifth of all the incidents
    ever recorded, so starting there reads the whole history; lists start from the
    primary key (newest first), periods from their date index, states from theirs.
    """
    return incidents_visible_for(*visibility_key(user))


def incidents_visible_for(admin: bool, team_id: int | None) -> ColumnElement[bool]:
    """`incidents_visible_to` for a `visibility_key`."""
    if admin:
        return true()
    return (Incident.customer_id + 0).in_(
        select(Customer.id).where(customers_visible_for(admin, team_id))
    )


def get_visible_incident(user: User, incident_id: int, *options) -> Incident | None:
    """The incident if `user` may see it, loaded with `options` (pass the same option
    objects every time, e.g. a module's constant: the statement is built once for them)."""
    statement = _visible_incident_statement(*visibility_key(user), options)
    return (
        db.session.scalars(statement, {"incident_id": incident_id}).unique().one_or_none()
    )  # unique(): options may join a collection


@lru_cache(maxsize=256)
def _visible_incident_statement(admin: bool, team_id: int | None, options: tuple) -> Select:
    """The incident if visible, with `options`."""
    return (
        select(Incident)
        .where(Incident.id == bindparam("incident_id"), incidents_visible_for(admin, team_id))
        .options(*options)
    )


def can_see_customer(user: User, customer: Customer) -> bool:
    return user.has_role(Role.ADMIN) or (
        user.team_id is not None and customer.team_id == user.team_id
    )


def can_see(user: User, incident: Incident) -> bool:
    return can_see_customer(user, incident.customer)


# --- reporting an incident ------------------------------------------------------------


@dataclass
class IncidentReport:
    """What a person reports; ids as chosen in a form, checked by `report_incident`."""

    customer_id: int
    site_id: int | None
    equipment_ids: Sequence[int]
    reported_via: ReportedVia
    severity: Severity
    actual: str
    occurred_at: datetime
    expected: str | None = None
    reporter_contact_id: int | None = None
    reporter_name: str | None = None
    reporter_phone: str | None = None
    cause_category: CauseCategory = CauseCategory.UNKNOWN
    cause_description: str | None = None
    technician_statement: str | None = None
    claim_reference: str | None = None
    photos: Sequence[ProcessedPhoto] = field(default_factory=list)
    photo_choices: Sequence["PhotoChoice"] = field(default_factory=list)


def find_submitted(actor: User, submission_key: str | None) -> Incident | None:
    """The incident an earlier try of the same form submission already created."""
    if not submission_key:
        return None
    return db.session.scalar(
        select(Incident).where(
            Incident.created_by_id == actor.id, Incident.submission_key == submission_key
        )
    )


def report_incident(
    report: IncidentReport,
    *,
    actor: User,
    submission_key: str | None = None,
    now: datetime | None = None,
) -> Incident:
    """Record a new incident with its equipment and photos, under a fresh reference.

    The same `submission_key` twice (a double tap, a retry after a time-out) returns
    the incident the first submission created instead of making a second one.
    """
    if (existing := find_submitted(actor, submission_key)) is not None:
        return existing
    now = now or utcnow()
    customer, site, equipment, contact = _check_report(report, actor, now)
    try:
        with db.session.begin_nested(), acting(actor):
            incident = Incident(
                reference=allocate_reference(now.year),
                created_by=actor,
                created_at=now,
                submission_key=submission_key or None,
                **_reported_values(report, customer, site, contact),
            )
            # Flushed with the incident, so its timeline tells them as one report.
            incident.equipment_links = [IncidentEquipment(equipment=item) for item in equipment]
            db.session.add(incident)
            db.session.flush()
            attach_photos(incident, report.photos, actor=actor, choices=report.photo_choices)
    except IntegrityError:
        # Another request with the same submission key won the race: it is the one.
        if (existing := find_submitted(actor, submission_key)) is not None:
            return existing
        raise
    webhooks.emit("incident.created", incident)
    return incident


def update_incident(
    incident: Incident,
    report: IncidentReport,
    *,
    actor: User,
    reason: str | None = None,
    now: datetime | None = None,
) -> None:
    """Correct what was reported; the timeline keeps every value before and after."""
    now = now or utcnow()
    customer, site, equipment, contact = _check_report(report, actor, now)
    with acting(actor, reason=_clean(reason)):
        for name, value in _reported_values(report, customer, site, contact).items():
            setattr(incident, name, value)
        before = [item.tag for item in incident.equipment]
        wanted = {item.id for item in equipment}
        for link in list(incident.equipment_links):
            if link.equipment_id not in wanted:
                incident.equipment_links.remove(link)  # delete-orphan: the row goes
        linked = {link.equipment_id for link in incident.equipment_links}
        for item in equipment:
            if item.id not in linked:
                incident.equipment_links.append(IncidentEquipment(equipment=item))
        db.session.flush()
        after = [item.tag for item in incident.equipment]
        if before != after:
            # A removed link's own events no longer belong to the incident's timeline;
            # this one says on the incident which equipment it is about now.
            record(
                incident,
                "change_equipment",
                {"equipment": [", ".join(before) or None, ", ".join(after) or None]},
                reason=_clean(reason),
            )


def _reported_values(
    report: IncidentReport, customer: Customer, site: Site | None, contact: Contact | None
) -> dict:
    return {
        "customer": customer,
        "site": site,
        "reported_via": report.reported_via,
        "severity": report.severity,
        "reporter_contact": contact,
        "reporter_name": _clean(report.reporter_name) if contact is None else None,
        "reporter_phone": _clean(report.reporter_phone) if contact is None else None,
        "expected": _clean(report.expected),
        "actual": report.actual.strip(),
        "occurred_at": report.occurred_at,
        "cause_category": report.cause_category,
        "cause_description": _clean(report.cause_description),
        "technician_statement": _clean(report.technician_statement),
        "claim_reference": _clean(report.claim_reference),
    }


def take_phone_call(
    report: IncidentReport,
    *,
    callback_due_at: datetime,
    callback_promise: str | None,
    actor: User,
    submission_key: str | None = None,
    now: datetime | None = None,
) -> Incident:
    """Log a call in one step, the incident and the promised call-back: the customer is
    never bounced to a process."""
    if (existing := find_submitted(actor, submission_key)) is not None:
        return existing
    now = now or utcnow()
    if callback_due_at <= now:
        raise FieldError("callback_due_at", "The call-back is due in the future.")
    window(PLANNED, "The call-back").check("callback_due_at", callback_due_at, now.date())
    incident = report_incident(report, actor=actor, submission_key=submission_key, now=now)
    if incident.follow_ups:
        return incident  # a racing retry of this call: its call-back is already promised
    promise = _clean(callback_promise) or "Call back"
    local = clock.format_time(callback_due_at, clock.user_zone(actor))
    promise_follow_up(
        incident,
        actor=actor,
        owner_id=actor.id,
        due_at=callback_due_at,
        promise=f"{promise} (by {local})" if local not in promise else promise,
        now=now,
    )
    return incident


def _check_report(
    report: IncidentReport, actor: User, now: datetime
) -> tuple[Customer, Site | None, list[Equipment], Contact | None]:
    customer = db.session.scalar(
        select(Customer).where(Customer.id == report.customer_id, customers_visible_to(actor))
    )
    if customer is None or not customer.active:
        raise FieldError("customer_id", "Choose one of your team's customers.")
    site = None
    if report.site_id is not None:
        site = db.session.get(Site, report.site_id)
        if site is None or site.customer_id != customer.id or not site.active:
            raise FieldError("site_id", f"Choose a site of {customer.name}.")
    equipment = list(
        db.session.scalars(select(Equipment).where(Equipment.id.in_(report.equipment_ids)))
    )
    if report.equipment_ids:
        if site is None:
            raise FieldError("site_id", "Choose the site of the equipment.")
        wrong = [item.tag for item in equipment if item.site_id != site.id]
        if wrong or len(equipment) != len(set(report.equipment_ids)):
            raise FieldError(
                "equipment_ids",
                f"Choose equipment at {site.name} only"
                + (f" ({', '.join(sorted(wrong))} is elsewhere)." if wrong else "."),
            )
    contact = None
    if report.reporter_contact_id is not None:
        contact = db.session.get(Contact, report.reporter_contact_id)
        if contact is None or contact.customer_id != customer.id:
            raise FieldError("reporter_contact_id", f"Choose a contact of {customer.name}.")
    elif not _clean(report.reporter_name):
        raise FieldError(
            "reporter_name", "Say who reported it: choose a contact or type a name and phone."
        )
    if not report.actual.strip():
        raise FieldError("actual", "Describe what happened.")
    if report.occurred_at > now + FUTURE_TOLERANCE:
        raise FieldError("occurred_at", "When it occurred cannot be more than a day from now.")
    window(HAPPENED, "When it occurred").check("occurred_at", report.occurred_at, now.date())
    return customer, site, equipment, contact


def allocate_reference(year: int) -> str:
    """The next INC-<year>-<number>: one row per year, incremented under its row lock,
    so concurrent reports never share a number."""
    session = db.session()
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        insert(IncidentCounter).values(year=year, last_number=0).on_conflict_do_nothing()
    )
    number = session.scalar(
        update(IncidentCounter)
        .where(IncidentCounter.year == year)
        .values(last_number=IncidentCounter.last_number + 1)
        .returning(IncidentCounter.last_number)
    )
    return f"INC-{year}-{number:05d}"


# --- photos ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PhotoChoice:
    """Whether the customer sees a photo (in the proposal PDF and on their status page),
    and the caption they read under it.

    Kept for us unless chosen: a photo taken on site is evidence first, and what shows
    damage, people or another customer's plant must never reach a customer by default.
    Leaving a useful photo out costs a tick; sending the wrong one cannot be undone.
    """

    shown_to_customer: bool = False
    caption: str | None = None


def attach_photos(
    incident: Incident,
    photos: Sequence[ProcessedPhoto],
    *,
    actor: User,
    choices: Sequence[PhotoChoice] = (),
    submission_key: str | None = None,
) -> list[Attachment]:
    """Store validated photos and record them; the files go if the transaction does.

    `choices[n]` is what was chosen for `photos[n]`; a photo without one is kept for us.
    The same `submission_key` from the same person again (a tablet's outbox resending an
    upload whose answer it never heard) returns the photos the first upload stored.
    """
    keys = [f"{submission_key}:{n}" if submission_key else None for n in range(len(photos))]
    if (earlier := _photos_sent_before(actor, keys)) or not submission_key:
        return earlier or _store_photos(incident, photos, actor, choices, keys)
    try:
        with db.session.begin_nested():
            return _store_photos(incident, photos, actor, choices, keys)
    except IntegrityError:
        if earlier := _photos_sent_before(actor, keys):
            return earlier  # a resend racing the first upload: the first one stored them
        raise


def find_uploaded_photos(
    actor: User, submission_key: str | None, count: int = 1
) -> list[Attachment]:
    """The photos an earlier try of the same upload of `count` photos already stored."""
    if not submission_key:
        return []
    return _photos_sent_before(actor, [f"{submission_key}:{n}" for n in range(count)])


def _photos_sent_before(actor: User, keys: list[str | None]) -> list[Attachment]:
    if not any(keys):
        return []
    return list(
        db.session.scalars(
            select(Attachment)
            .where(Attachment.uploaded_by_id == actor.id, Attachment.submission_key.in_(keys))
            .order_by(Attachment.id)
        )
    )


def _store_photos(
    incident: Incident,
    photos: Sequence[ProcessedPhoto],
    actor: User,
    choices: Sequence[PhotoChoice],
    keys: list[str | None],
) -> list[Attachment]:
    attached = []
    for n, photo in enumerate(photos):
        choice = choices[n] if n < len(choices) else PhotoChoice()
        caption = _caption(choice.caption)
        key = f"incidents/{incident.id}/{photo.sha256[:16]}-{_token()}"
        # Named before the photo hangs off the incident: reading the actor may flush.
        with acting(actor):
            attachment = Attachment(
                incident=incident,
                filename=photo.filename,
                content_type=photo.content_type,
                size=photo.size,
                width=photo.width,
                height=photo.height,
                sha256=photo.sha256,
                storage_key=f"{key}.{photo.extension}",
                thumbnail_key=f"{key}-thumb.jpg",
                uploaded_by=actor,
                shown_to_customer=choice.shown_to_customer,
                caption=caption,
                submission_key=keys[n],
            )
            db.session.add(attachment)
            db.session.flush()
        put_in_transaction(attachment.storage_key, photo.data)
        put_in_transaction(attachment.thumbnail_key, photo.thumbnail)
        attached.append(attachment)
    return attached


def choose_photo_for_customer(attachment: Attachment, choice: PhotoChoice, *, actor: User) -> bool:
    """Show a photo to the customer or keep it for us, and set its caption; the trail
    keeps who changed it and the values before and after. False: nothing changed.

    Revisions already sent keep the photos they showed; this changes the next ones.
    """
    if not can_see(actor, attachment.incident):
        raise NotAllowed("Only the incident's team can choose what its customer sees.")
    caption = _caption(choice.caption)
    if (attachment.shown_to_customer, attachment.caption) == (choice.shown_to_customer, caption):
        return False
    with acting(actor):
        attachment.shown_to_customer = choice.shown_to_customer
        attachment.caption = caption
        db.session.flush()
    return True


def _caption(caption: str | None) -> str | None:
    # One line under a photo: line breaks and runs of spaces become one space.
    caption = _clean(" ".join((caption or "").split()))
    if caption is not None and len(caption) > CAPTION_MAX:
        raise FieldError("caption", f"Keep the caption to {CAPTION_MAX} characters.")
    return caption


def _token() -> str:
    return secrets.token_hex(8)


# --- status ---------------------------------------------------------------------------


def change_status(
    incident: Incident, status: IncidentStatus, *, actor: User, note: str | None = None
) -> None:
    """Move an incident by hand along STAFF_TRANSITIONS; resolving needs a resolution
    note. The steps that state the customer's decision are refused, whoever asks."""
    if status in OFFER_TRANSITIONS.get(incident.status, set()):
        raise InvalidTransition(_DECIDED_ELSEWHERE[status])
    if status not in STAFF_TRANSITIONS[incident.status]:
        raise InvalidTransition(
            f"{incident.reference} is {incident.status.label.lower()}; "
            f"it cannot become {status.label.lower()}."
        )
    note = _clean(note)
    if status is IncidentStatus.RESOLVED and not note:
        raise FieldError("note", "Say how it was resolved: a resolution note is needed.")
    with acting(actor, reason=note):
        incident.status = status
        if status is IncidentStatus.RESOLVED:
            incident.resolution_note = note
            incident.resolved_at = utcnow()
        elif status is IncidentStatus.OPEN:
            incident.resolved_at = None  # reopened: no longer resolved
        db.session.flush()
    if status is IncidentStatus.RESOLVED:
        webhooks.emit("incident.resolved", incident)


_DECIDED_ELSEWHERE = {
    IncidentStatus.REMEDIATION_PROPOSED: (
        "Remediation proposed is set by sending an approved proposal to the customer, not by hand."
    ),
    IncidentStatus.REMEDIATION_ACCEPTED: (
        "Only the customer's answer makes an offer accepted: the customer answers on their "
        "status page, or a supervisor records the answer they gave by phone or on paper on "
        "the sent proposal."
    ),
    IncidentStatus.OPEN: (
        "An offer that is out goes back to open only when the customer declines it or it "
        "expires: record the customer's answer on the sent proposal, or send a new revision."
    ),
}


# --- sent once: the same submission again returns what the first one recorded ----------

T = TypeVar("T")


def _sent_before(model: type[T], author: Any, actor: User, key: str | None) -> T | None:
    """What `actor` already recorded with `key` (`author`: the column naming who did)."""
    if not key:
        return None
    return db.session.scalar(select(model).where(author == actor.id, model.submission_key == key))


def _once(model: type[T], author: Any, actor: User, key: str | None, record_it) -> T:
    """Record with `record_it()` unless `actor` already sent the same `key`: a double tap,
    a retry after a time-out or a tablet's outbox resending an action it never heard
    back about gives back the first one's record, and its audit event stays the only one."""
    if not key:
        return record_it()
    if (earlier := _sent_before(model, author, actor, key)) is not None:
        return earlier
    try:
        with db.session.begin_nested():
            return record_it()
    except IntegrityError:
        # A resend racing the first try: the first one's row is the one.
        if (earlier := _sent_before(model, author, actor, key)) is not None:
            return earlier
        raise


# --- work log and communications -------------------------------------------------------


def log_work(
    incident: Incident,
    *,
    actor: User,
    started_at: datetime,
    minutes: int,
    note: str,
    now: datetime | None = None,
    submission_key: str | None = None,
) -> WorkLogEntry:
    """Record time spent on the incident, for the invoice dispute that may come; the same
    `submission_key` from the same person again returns the entry it recorded."""
    return _once(
        WorkLogEntry,
        WorkLogEntry.user_id,
        actor,
        submission_key,
        lambda: _log_work(incident, actor, started_at, minutes, note, now, submission_key),
    )


def _log_work(
    incident: Incident,
    actor: User,
    started_at: datetime,
    minutes: int,
    note: str,
    now: datetime | None,
    submission_key: str | None,
) -> WorkLogEntry:
    now = now or utcnow()
    WORK_MINUTES.check("minutes", minutes)
    if started_at > now + timedelta(minutes=5):
        raise FieldError("started_at", "Work cannot start in the future.")
    window(HAPPENED, "The start").check("started_at", started_at, now.date())
    if not note.strip():
        raise FieldError("note", "Say what was done.")
    # Objects are built inside acting(): reading an expired actor may autoflush.
    with acting(actor):
        entry = WorkLogEntry(
            incident=incident,
            user=actor,
            started_at=started_at,
            minutes=minutes,
            note=note.strip(),
            submission_key=submission_key or None,
        )
        db.session.add(entry)
        db.session.flush()
    return entry


def record_communication(
    incident: Incident,
    *,
    actor: User,
    channel: Channel,
    direction: Direction,
    summary: str,
    at: datetime | None = None,
    now: datetime | None = None,
    submission_key: str | None = None,
) -> Communication:
    """Note a call, e-mail or visit with the customer about the incident; the same
    `submission_key` from the same person again returns the one it recorded."""
    return _once(
        Communication,
        Communication.user_id,
        actor,
        submission_key,
        lambda: _record_communication(
            incident, actor, channel, direction, summary, at, now, submission_key
        ),
    )


def _record_communication(
    incident: Incident,
    actor: User,
    channel: Channel,
    direction: Direction,
    summary: str,
    at: datetime | None,
    now: datetime | None,
    submission_key: str | None,
) -> Communication:
    now = now or utcnow()
    at = at or now
    if at > now + timedelta(minutes=5):
        raise FieldError("at", "A communication cannot be in the future.")
    window(HAPPENED, "When").check("at", at, now.date())
    if not summary.strip():
        raise FieldError("summary", "Summarise what was said.")
    with acting(actor):
        communication = Communication(
            incident=incident,
            user=actor,
            channel=channel,
            direction=direction,
            summary=summary.strip(),
            at=at,
            submission_key=submission_key or None,
        )
        db.session.add(communication)
        db.session.flush()
    return communication


# --- follow-ups: commit to a follow-up and keep it ---------------------------------------


def promise_follow_up(
    incident: Incident,
    *,
    actor: User,
    owner_id: int,
    due_at: datetime,
    promise: str,
    now: datetime | None = None,
    submission_key: str | None = None,
) -> FollowUp:
    """Record a commitment to the customer: who will do what by when. The same
    `submission_key` from the same person again returns the promise it recorded."""
    return _once(
        FollowUp,
        FollowUp.created_by_id,
        actor,
        submission_key,
        lambda: _promise_follow_up(incident, actor, owner_id, due_at, promise, now, submission_key),
    )


def _promise_follow_up(
    incident: Incident,
    actor: User,
    owner_id: int,
    due_at: datetime,
    promise: str,
    now: datetime | None,
    submission_key: str | None,
) -> FollowUp:
    now = now or utcnow()
    owner = db.session.get(User, owner_id)
    if owner is None or not owner.active or not can_see(owner, incident):
        raise FieldError("owner_id", "Choose an active colleague who can see this incident.")
    if due_at <= now:
        raise FieldError("due_at", "A promise is due in the future: choose a later time.")
    window(PLANNED, "Due").check("due_at", due_at, now.date())
    if not promise.strip():
        raise FieldError("promise", "Write the promise in words, as the customer heard it.")
    with acting(actor):
        follow_up = FollowUp(
            incident=incident,
            owner=owner,
            due_at=due_at,
            promise=promise.strip(),
            created_by=actor,
            submission_key=submission_key or None,
        )
        db.session.add(follow_up)
        db.session.flush()
    return follow_up


def close_follow_up(
    follow_up: FollowUp,
    *,
    actor: User,
    outcome: FollowUpOutcome,
    note: str,
    next_due_at: datetime | None = None,
    next_promise: str | None = None,
    now: datetime | None = None,
    submission_key: str | None = None,
) -> FollowUp | None:
    """Keep a promise by reporting its outcome.

    "Working on it" and "next step" are updates, not endings: they need the next
    promise and its time, which becomes a new follow-up for the same owner (returned).
    The same `submission_key` from the same person again changes nothing and returns
    what the first one returned.
    """
    now = now or utcnow()
    next_key = f"{submission_key}:next" if submission_key else None
    if follow_up.closed_at is not None:
        if submission_key and (follow_up.closed_by_id, follow_up.close_key) == (
            actor.id,
            submission_key,
        ):
            return _sent_before(FollowUp, FollowUp.created_by_id, actor, next_key)
        closer = f" by {follow_up.closed_by.name}" if follow_up.closed_by else ""
        raise DomainError(
            f"This follow-up was already closed{closer} "
            f"({follow_up.outcome.label.lower() if follow_up.outcome else 'no outcome'}): "
            "nothing was changed."
        )
    if not note.strip():
        raise FieldError("note", "Say what the customer was told.")
    next_follow_up = None
    with acting(actor):
        if outcome is not FollowUpOutcome.DONE:
            if next_due_at is None or next_due_at <= now:
                raise FieldError("next_due_at", "When is the next update due? Choose a later time.")
            window(PLANNED, "Next update due").check("next_due_at", next_due_at, now.date())
            next_follow_up = promise_follow_up(
                follow_up.incident,
                actor=actor,
                owner_id=follow_up.owner_id,
                due_at=next_due_at,
                promise=next_promise or follow_up.promise,
                now=now,
                submission_key=next_key,
            )
        follow_up.outcome = outcome
        follow_up.outcome_note = note.strip()
        follow_up.closed_at = now
        follow_up.closed_by = actor
        follow_up.close_key = submission_key or None
        db.session.flush()
    return next_follow_up


def overdue_follow_up_exists(now: datetime) -> ColumnElement[bool]:
    """A condition on Incident: it has a follow-up past its due time and not closed.

    Read from the incident's own next due time (an index range, whatever the number
    of follow-ups), which `_keep_next_due` below keeps equal to its earliest open one.
    """
    return Incident.next_follow_up_due_at < now


_FOLLOW_UPS_CHANGED = "incidents_follow_ups_changed"


@event.listens_for(Session, "after_flush")
def _note_follow_ups_flushed(session: Session, flush_context) -> None:
    # However a follow-up is promised, kept or moved (these services, a declined offer,
    # the portal), its incident's next due time follows: no writer can forget it.
    changed = session.info.setdefault(_FOLLOW_UPS_CHANGED, set())
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, FollowUp):
            changed.add(obj.incident_id)
            history = inspect(obj).attrs.incident_id.history
            changed.update(i for i in history.deleted or () if i is not None)


@event.listens_for(Session, "after_flush_postexec")
def _keep_next_due(session: Session, flush_context) -> None:
    changed = session.info.pop(_FOLLOW_UPS_CHANGED, set()) - {None}
    if not changed:
        return
    incidents = Incident.__table__
    follow_ups = FollowUp.__table__
    earliest_open = (
        select(func.min(follow_ups.c.due_at))
        .where(follow_ups.c.incident_id == incidents.c.id, follow_ups.c.closed_at.is_(None))
        .scalar_subquery()
    )
    # A plain UPDATE: derived state, not a change a person made, so not in the audit trail.
    rows = session.connection().execute(
        update(incidents)
        .where(incidents.c.id.in_(sorted(changed)))
        .values(next_follow_up_due_at=earliest_open)
        .returning(incidents.c.id, incidents.c.next_follow_up_due_at)
    )
    for incident_id, due in rows:
        loaded = session.identity_map.get(identity_key(Incident, incident_id))
        if loaded is not None:
            set_committed_value(loaded, "next_follow_up_due_at", due)


def _clean(text: str | None) -> str | None:
    text = (text or "").strip()
    return text or None
