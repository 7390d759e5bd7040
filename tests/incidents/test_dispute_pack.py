"""The dispute pack: one incident's whole record as a PDF for a customer who
disputes a bill — who did what, when and why, the hours, the offer and the customer's
acceptance — with the internal cause only when the supervisor ticks the box."""

import re
import shutil
import subprocess
from datetime import timedelta
from io import BytesIO
from pathlib import Path

import pypdf
import pytest
from PIL import Image
from sqlalchemy import select

from fieldsvc.audit.models import AuditEvent
from fieldsvc.auth.models import Role
from fieldsvc.database import utcnow
from fieldsvc.extensions import db
from fieldsvc.incidents import dispute, services
from fieldsvc.incidents.models import Channel, Direction, Severity
from fieldsvc.incidents.services import IncidentReport, update_incident
from tests.conftest import ARTIFACTS, missing
from tests.factories import PASSWORD, add_activity
from tests.proposals.broken_transmitters import BrokenTransmitters, build_broken_transmitters, send

HOSTILE = '<img src="file:///etc/passwd"> <script>alert(1)</script>'
CORRECTION = "Dana called: the fill line stood still for four hours"
INTERNAL_REASON = "Checked the rig's pressure log"


def _reader(data: bytes) -> pypdf.PdfReader:
    assert data.startswith(b"%PDF-")
    return pypdf.PdfReader(BytesIO(data))


def _text(data: bytes) -> str:
    """The PDF's text with runs of white space as one space, as a reader takes it in."""
    return " ".join(" ".join(page.extract_text() for page in _reader(data).pages).split())


def _report(incident, **changes) -> IncidentReport:
    values = {
        "customer_id": incident.customer_id,
        "site_id": incident.site_id,
        "equipment_ids": [link.equipment_id for link in incident.equipment_links],
        "reported_via": incident.reported_via,
        "severity": incident.severity,
        "expected": incident.expected,
        "actual": incident.actual,
        "occurred_at": incident.occurred_at,
        "reporter_contact_id": incident.reporter_contact_id,
        "cause_category": incident.cause_category,
        "cause_description": incident.cause_description,
        "technician_statement": incident.technician_statement,
        "claim_reference": incident.claim_reference,
    }
    return IncidentReport(**(values | changes))


@pytest.fixture
def sent(app) -> tuple[BrokenTransmitters, str]:
    """The broken transmitters with two hours fifty of work, a call, a promise, a
    correction with its reason, a change to the internal cause alone, and the offer
    sent: the story and the status page's token."""
    seed = build_broken_transmitters()
    incident, technician, supervisor = seed.incident, seed.technician, seed.supervisor
    started = utcnow() - timedelta(hours=3)
    services.log_work(
        incident, actor=technician, started_at=started, minutes=50, note="Calibrated PT-101…106"
    )
    services.log_work(
        incident, actor=technician, started_at=started, minutes=100, note="Removed PT-107, PT-117"
    )
    services.log_work(
        incident, actor=supervisor, started_at=started, minutes=20, note="Called Dana Whitfield"
    )
    services.record_communication(
        incident,
        actor=supervisor,
        channel=Channel.PHONE,
        direction=Direction.OUTBOUND,
        summary="Told Dana what happened; replacements arrive tomorrow.",
    )
    services.promise_follow_up(
        incident,
        actor=supervisor,
        owner_id=technician.id,
        due_at=utcnow() + timedelta(hours=4),
        promise="Call Dana with the delivery time",
    )
    update_incident(
        incident, _report(incident, severity=Severity.CRITICAL), actor=supervisor, reason=CORRECTION
    )
    update_incident(
        incident,
        _report(incident, cause_description="Regulator left at 40 bar after the last job."),
        actor=supervisor,
        reason=INTERNAL_REASON,
    )
    db.session.commit()
    return seed, send(seed)


@pytest.fixture
def accepted(app, sent) -> BrokenTransmitters:
    """The customer accepts the offer on their status page, from 203.0.113.7."""
    seed, token = sent
    response = app.test_client().post(
        f"/status/{token}/answer/accept",
        data={
            "accept-revision_id": seed.revision.id,
            "accept-pdf_sha256": seed.revision.pdf_sha256,
            "accept-full_name": "Dana Whitfield",
        },
        environ_base={"REMOTE_ADDR": "203.0.113.7"},
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    return seed


def _pack(client, seed: BrokenTransmitters, **data):
    client.sign_in(seed.supervisor.email, PASSWORD)
    return client.post(f"/incidents/{seed.incident.id}/dispute-pack", data=data)


def _events() -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.action == dispute.ACTION).order_by(AuditEvent.id)
    return list(db.session.scalars(query))


# --- what the customer reads ------------------------------------------------------------------


def test_the_pack_holds_the_timeline_hours_offer_and_acceptance(client, accepted):
    seed = accepted
    revision = seed.revision

    response = _pack(client, seed)

    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    reference = seed.incident.reference
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="{reference}-dispute-pack.pdf"'
    )
    reader = _reader(response.data)
    assert reader.metadata.title == f"Dispute pack {reference}"
    text = _text(response.data)
    assert f"Incident record {reference}" in text and "Customer Northwind Pharma" in text
    assert f"page 1 of {len(reader.pages)}" in text
    # The timeline: who did what, when and why.
    assert "Reported INC-" in text and "Tom Technician" in text
    assert f"Changed the incident Severity: High → Critical {CORRECTION}" in text
    assert "Sara Supervisor" in text and "I approve this remediation offer" in text
    assert "The customer, on the status page" in text
    assert "accepted by Dana Whitfield on the status page" in text
    # The hours, per person and in all.
    assert "Tom Technician 2 h 30 min (2.50 h)" in text
    assert "Sara Supervisor 0 h 20 min (0.33 h)" in text
    assert "In all 2 h 50 min (2.83 h)" in text
    assert "Told Dana what happened; replacements arrive tomorrow." in text
    assert "Call Dana with the delivery time" in text
    assert "PO-7781" in text
    # The revision: approved (with what approving means), sent, its PDF's hash.
    assert f"Proposal {seed.proposal.id}, revision 1 Accepted" in text
    assert "Approved by Sara Supervisor" in text
    assert "Customer pays USD 350.00" in text
    assert f"PDF sent (SHA-256) {revision.pdf_sha256}" in text
    # The customer's decision: name, address, and the PDF they accepted.
    assert "Accepted: proposal" in text and "Name typed Dana Whitfield" in text
    assert "IP address 203.0.113.7" in text
    assert f"PDF on the page (SHA-256) {revision.pdf_sha256} the PDF we sent" in text
    # What suppliers charge us is ours, as in the proposal PDF.
    assert "unit cost" not in text.lower() and "restocking" not in text.lower()


def test_the_internal_cause_is_left_out_unless_the_box_is_ticked(client, accepted):
    seed = accepted

    without = _text(_pack(client, seed).data)
    ticked = _text(_pack(client, seed, include_internal="y").data)

    for internal in ("40 bar", "did not re-check", "Cause category", INTERNAL_REASON):
        assert internal not in without
        assert internal in ticked
    assert "Our internal review of the cause is not part of this copy." in without
    assert "Internal cause — our own review" in ticked and "INTERNAL" in ticked
    assert "Cause, internal description (internal): Test rig regulator set to 40 bar" in ticked


def test_producing_the_pack_is_recorded_with_who_and_whether_internal(client, accepted):
    seed = accepted

    _pack(client, seed)
    _pack(client, seed, include_internal="y")

    first, second = _events()
    assert (first.object_type, first.object_id) == ("Incident", seed.incident.id)
    assert first.actor_id == seed.supervisor.id == second.actor_id
    assert first.changes == {"internal_cause_included": [None, False]}
    assert second.changes == {"internal_cause_included": [None, True]}
    # The pack's own timeline ends with its making.
    text = _text(_pack(client, seed).data)
    assert text.count("Produced a dispute pack") == 3
    assert "Internal cause included: Yes" in text


def test_customer_text_is_printed_as_text_never_as_markup(app, accepted):
    seed = accepted
    services.record_communication(
        seed.incident,
        actor=seed.supervisor,
        channel=Channel.EMAIL,
        direction=Direction.INBOUND,
        summary=HOSTILE,
    )
    db.session.commit()

    data = dispute.render_dispute_pack(seed.incident, include_internal=False)

    text = _text(data)
    assert HOSTILE in text
    passwd = Path("/etc/passwd").read_text().split(":", 1)[0] + ":"
    assert passwd not in text
    reader = _reader(data)
    assert reader.attachments == {}
    assert not any(page.images for page in reader.pages)


def test_a_long_timeline_repeats_its_table_header_on_every_page(app, accepted):
    seed = accepted
    for n in range(40):
        services.log_work(
            seed.incident,
            actor=seed.technician,
            started_at=utcnow() - timedelta(hours=2),
            minutes=5,
            note=f"Check {n}",
        )
    db.session.commit()

    pages = [
        " ".join(page.extract_text().split())
        for page in _reader(
            dispute.render_dispute_pack(seed.incident, include_internal=False)
        ).pages
    ]

    timeline = pages[[n for n, page in enumerate(pages) if "Timeline" in page][-1] :]
    assert len(timeline) >= 2
    for page in timeline:
        assert "When Who What Why" in page
    work = [page for page in pages if re.search(r" 5 Check \d+", page)]  # minutes, note
    assert len(work) >= 2
    for page in work:
        assert "Started Who Minutes What was done" in page


def test_page_one_renders_to_a_picture_that_is_not_blank(app, accepted, tmp_path):
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        missing("pdftoppm (poppler-utils) is not installed")
    source = tmp_path / "pack.pdf"
    source.write_bytes(dispute.render_dispute_pack(accepted.incident, include_internal=True))
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / "dispute-pack-page1"

    subprocess.run(
        [pdftoppm, "-png", "-r", "50", "-f", "1", "-l", "1", "-singlefile", source, target],
        check=True,
    )

    image = Image.open(target.with_suffix(".png")).convert("RGB")
    grey = image.convert("L")
    assert sum(grey.histogram()[:100]) > 0.01 * image.width * image.height
    # The internal cause's frame is red on the page: clearly marked.
    assert any(r > 150 and g < 80 and b < 80 for r, g, b in image.get_flattened_data())


# --- who may have it -----------------------------------------------------------------------


def test_the_form_offers_the_box_unticked_and_the_incident_page_links_to_it(client, accepted):
    seed = accepted
    url = f"/incidents/{seed.incident.id}/dispute-pack"
    client.sign_in(seed.supervisor.email, PASSWORD)

    form = client.get(url).get_data(as_text=True)
    detail = client.get(f"/incidents/{seed.incident.id}").get_data(as_text=True)

    assert "Include the internal cause (cause category, description, technician" in form
    box = re.search(r'<input[^>]*name="include_internal"[^>]*>', form)[0]
    assert 'type="checkbox"' in box and "checked" not in box
    assert 'name="csrf_token"' in form
    assert f'href="{url}"' in detail
    assert _events() == []  # looking at the form produces nothing


def test_technicians_get_403_and_another_team_404(app, client, accepted, make_user, make_team):
    seed = accepted
    url = f"/incidents/{seed.incident.id}/dispute-pack"
    outsider = make_user(Role.SUPERVISOR, team=make_team(name="North crew"))
    db.session.commit()

    client.sign_in(seed.technician.email, PASSWORD)
    assert client.get(url).status_code == 403
    assert client.post(url).status_code == 403
    assert url not in client.get(f"/incidents/{seed.incident.id}").get_data(as_text=True)
    other = app.test_client().sign_in(outsider.email, PASSWORD)
    assert other.get(url).status_code == 404
    refused = other.post(url, data={"include_internal": "y"})
    assert refused.status_code == 404 and b"Northwind" not in refused.data
    assert _events() == []


def test_a_post_without_the_csrf_token_is_refused(client, accepted):
    seed = accepted
    client.sign_in(seed.supervisor.email, PASSWORD)

    response = client.post(f"/incidents/{seed.incident.id}/dispute-pack", csrf=False)

    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert _events() == []


# --- queries -----------------------------------------------------------------------------


def test_the_pack_s_queries_do_not_grow_with_the_record(
    client, signed_in, make_team, make_user, make_site, make_incident, count_queries
):
    team = make_team()
    me = signed_in(Role.SUPERVISOR, team=team)
    people = [me] + [make_user(Role.TECHNICIAN, team=team) for _ in range(3)]
    site = make_site()
    site.customer.team = team
    small, large = make_incident(site=site, actor=me), make_incident(site=site, actor=me)
    add_activity(small, people, 2)
    add_activity(large, people, 20)

    def queries(incident_id: int) -> int:
        db.session.expunge_all()  # count what a fresh request runs, not the test's cache
        with count_queries() as statements:
            response = client.post(f"/incidents/{incident_id}/dispute-pack")
            assert response.status_code == 200
        return len(statements)

    small_id, large_id = small.id, large.id
    assert queries(small_id) == queries(large_id)
