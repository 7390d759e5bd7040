"""The photos a revision shows the customer, in its PDF and on their status page.

Until a revision is sent it shows the incident's photos that are shown to the customer
now, with their captions now. Sending freezes that list with the PDF (RevisionPhoto):
the customer keeps seeing exactly what they were sent, whatever is shown, hidden or
re-captioned afterwards — that changes the next revision only.
"""

from dataclasses import dataclass

from fieldsvc.extensions import db
from fieldsvc.incidents.models import Attachment, Incident
from fieldsvc.proposals.models import ProposalRevision, RevisionPhoto


@dataclass(frozen=True)
class CustomerPhoto:
    attachment: Attachment
    caption: str | None
    number: int  # "Photo 1", "Photo 2"… as the customer reads it


def customer_photos(revision: ProposalRevision) -> list[CustomerPhoto]:
    """The photos the revision shows: frozen with it once sent, else those shown now."""
    if revision.sent_at is not None:
        return [CustomerPhoto(p.attachment, p.caption, p.position) for p in revision.photos]
    return shown_now(revision.proposal.incident)


def shown_now(incident: Incident) -> list[CustomerPhoto]:
    """The incident's photos that someone chose to show the customer, oldest first."""
    shown = [photo for photo in incident.attachments if photo.shown_to_customer]
    return [CustomerPhoto(photo, photo.caption, n) for n, photo in enumerate(shown, 1)]


def freeze_photos(revision: ProposalRevision) -> list[CustomerPhoto]:
    """Keep with a revision being sent the photos it shows now and their captions (the
    caller attributes it to the sender); a revision already frozen keeps its own."""
    if revision.photos:
        return customer_photos(revision)
    photos = shown_now(revision.proposal.incident)
    for photo in photos:
        revision.photos.append(
            RevisionPhoto(attachment=photo.attachment, position=photo.number, caption=photo.caption)
        )
    db.session.flush()
    return photos
