"""The demo story with what the file store holds: a photo of each broken transmitter and
the sent proposal's frozen PDF."""

import io
from dataclasses import dataclass
from datetime import timedelta

from PIL import Image
from sqlalchemy import select

from fieldsvc.auth.models import User
from fieldsvc.database import utcnow
from fieldsvc.demo import load_demo_data
from fieldsvc.extensions import db
from fieldsvc.incidents.models import Attachment, Incident, ReportedVia, Severity
from fieldsvc.incidents.photos import process_photo
from fieldsvc.incidents.services import IncidentReport, attach_photos, report_incident
from fieldsvc.proposals.models import ProposalRevision
from fieldsvc.proposals.sending import send_revision


@dataclass(frozen=True)
class Story:
    incident_id: int
    revision_id: int
    attachment_ids: list[int]


def a_photo(n: int, name: str = "pt-107.jpg"):
    """A small real JPEG, different for each n, through the app's own photo processing."""
    image = Image.new("RGB", (64, 48), ((n * 37) % 256, (n * 91) % 256, (n * 13) % 256))
    out = io.BytesIO()
    image.save(out, "JPEG")
    return process_photo(out.getvalue(), name, max_bytes=10**6, max_pixels=10**6)


def person(email: str) -> User:
    return db.session.scalar(select(User).where(User.email == email))


def tell_the_story() -> Story:
    """Demo data, two photos on its incident, its approved proposal sent (PDF frozen)."""
    load_demo_data()
    db.session.commit()
    incident = db.session.scalar(select(Incident))
    attachments = attach_photos(
        incident, [a_photo(1), a_photo(2, "pt-117.png")], actor=person("tech@example.com")
    )
    revision = incident.proposals[0].current
    send_revision(
        revision, sender=person("supervisor@example.com"), expected_version=revision.version
    )
    db.session.commit()
    return Story(incident.id, revision.id, [attachment.id for attachment in attachments])


def record_incident_with_photo(n: int) -> Incident:
    """What a technician's tablet does: an incident phoned in, with a photo."""
    incident = db.session.scalar(select(Incident))
    technician = person("tech@example.com")
    report = IncidentReport(
        customer_id=incident.customer_id,
        site_id=incident.site_id,
        equipment_ids=[],
        reported_via=ReportedVia.PHONE,
        severity=Severity.LOW,
        expected="Transmitter reads 4 mA at zero",
        actual=f"Reads {n} mA",
        occurred_at=utcnow() - timedelta(hours=1),
        reporter_name="Dana Whitfield",
    )
    new = report_incident(report, actor=technician)
    attach_photos(new, [a_photo(n + 10)], actor=technician)
    db.session.commit()
    return new


def frozen_pdf_sha256(revision_id: int) -> str:
    return db.session.get(ProposalRevision, revision_id).pdf_sha256


def photos() -> list[Attachment]:
    return list(db.session.scalars(select(Attachment).order_by(Attachment.id)))
