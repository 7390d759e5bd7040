"""What a technician's tablet keeps for offline reading: the incidents they work on and
the reference data the new-incident form needs, for the customers their team serves.

Reads only (nothing here changes state). Both are bounded, so a team with a very long
customer list still gets a bundle a tablet downloads in seconds on a weak connection.
"""

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, union

from fieldsvc.auth.models import User
from fieldsvc.customers.models import Contact, Customer, Equipment, Site
from fieldsvc.extensions import db
from fieldsvc.incidents.models import (
    OPEN_STATUSES,
    Attachment,
    FollowUp,
    Incident,
    WorkLogEntry,
)
from fieldsvc.incidents.services import customers_visible_to, incidents_visible_to

# The incident pages (and their photo thumbnails) a tablet keeps: the newest first.
KEPT_INCIDENTS = 50
KEPT_THUMBNAILS = 200
# The reference data's size as JSON, uncompressed: a bundle that would be larger keeps
# what fits (customers first, then sites, equipment, contacts) and says it is incomplete.
BUNDLE_MAX_BYTES = 1_000_000
# Rows read per kind at most, so a huge list is never loaded to be cut.
BUNDLE_MAX_ROWS = 10_000


@dataclass
class KeptIncidents:
    incident_ids: list[int]
    thumbnails: list[tuple[int, int]]  # (incident id, attachment id)


def kept_incidents(user: User) -> KeptIncidents:
    """The open incidents `user` may see and reported, logged work on or owns a
    follow-up of, newest first, with their photos' ids."""
    theirs = union(
        select(Incident.id).where(Incident.created_by_id == user.id),
        select(WorkLogEntry.incident_id).where(WorkLogEntry.user_id == user.id),
        select(FollowUp.incident_id).where(FollowUp.owner_id == user.id),
    )
    ids = list(
        db.session.scalars(
            select(Incident.id)
            .where(
                Incident.id.in_(theirs),
                Incident.status.in_(OPEN_STATUSES),
                incidents_visible_to(user),
            )
            .order_by(Incident.id.desc())
            .limit(KEPT_INCIDENTS)
        )
    )
    thumbnails = db.session.execute(
        select(Attachment.incident_id, Attachment.id)
        .where(Attachment.incident_id.in_(ids))
        .order_by(Attachment.incident_id.desc(), Attachment.id)
        .limit(KEPT_THUMBNAILS)
    ).all()
    return KeptIncidents(ids, [(incident_id, photo_id) for incident_id, photo_id in thumbnails])


@dataclass
class ReferenceData:
    """The new-incident form's choices, as plain rows for JSON."""

    customers: list[dict[str, Any]] = field(default_factory=list)
    sites: list[dict[str, Any]] = field(default_factory=list)
    equipment: list[dict[str, Any]] = field(default_factory=list)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    complete: bool = True


def reference_data(user: User, max_bytes: int | None = None) -> ReferenceData:
    """The active customers `user`'s team serves (the new-incident form's own scope), their
    active sites, equipment and contacts, within `max_bytes` of JSON."""
    budget = _Budget(BUNDLE_MAX_BYTES if max_bytes is None else max_bytes)
    data = ReferenceData()
    customer_ids = select(Customer.id).where(customers_visible_to(user), Customer.active)
    rows = db.session.execute(
        select(Customer.id, Customer.name)
        .where(Customer.id.in_(customer_ids))
        .order_by(Customer.name, Customer.id)
        .limit(BUNDLE_MAX_ROWS)
    )
    data.customers = budget.take({"id": id_, "name": name} for id_, name in rows)
    rows = db.session.execute(
        select(Site.id, Site.name, Site.customer_id)
        .where(Site.customer_id.in_(customer_ids), Site.active)
        .order_by(Site.name, Site.id)
        .limit(BUNDLE_MAX_ROWS)
    )
    data.sites = budget.take(
        {"id": id_, "name": name, "customer_id": customer_id} for id_, name, customer_id in rows
    )
    rows = db.session.execute(
        select(Equipment.id, Equipment.tag, Equipment.model, Equipment.serial, Equipment.site_id)
        .join(Site, Equipment.site_id == Site.id)
        .where(Site.customer_id.in_(customer_ids), Site.active, Equipment.active)
        .order_by(Equipment.tag, Equipment.id)
        .limit(BUNDLE_MAX_ROWS)
    )
    # The same fields as the form's equipment picker reads from the server.
    data.equipment = budget.take(
        {
            "id": id_,
            "tag": tag,
            "detail": " · ".join(part for part in (model, serial) if part),
            "site_id": site_id,
        }
        for id_, tag, model, serial, site_id in rows
    )
    rows = db.session.execute(
        select(Contact.id, Contact.name, Contact.customer_id)
        .where(Contact.customer_id.in_(customer_ids), Contact.active)
        .order_by(Contact.name, Contact.id)
        .limit(BUNDLE_MAX_ROWS)
    )
    data.contacts = budget.take(
        {"id": id_, "name": name, "customer_id": customer_id} for id_, name, customer_id in rows
    )
    data.complete = not budget.exceeded
    return data


class _Budget:
    """Counts the JSON bytes of rows taken; once one does not fit, takes no more."""

    # The bundle's fixed part (keys, user, times, page URLs) is within this allowance.
    ENVELOPE = 20_000

    def __init__(self, max_bytes: int) -> None:
        self.left = max_bytes - self.ENVELOPE
        self.exceeded = False

    def take(self, rows) -> list[dict[str, Any]]:
        taken = []
        for row in rows:
            size = len(to_json(row)) + 1  # and a comma
            if self.exceeded or size > self.left:
                self.exceeded = True
                break
            self.left -= size
            taken.append(row)
        return taken


def to_json(value: Any) -> bytes:
    """The bundle's encoding: compact UTF-8, as counted against its budget."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
