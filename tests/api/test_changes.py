"""What the API changes besides drafts, by the pages' rules: an incident corrected with
If-Match and moved on as staff may by hand, its photos, suppliers and parts, and a
proposal submitted, approved and sent through the send gate; every refusal a problem
detail naming what the pages name, another team's objects not found, a token without
the scope refused."""

import io
from datetime import timedelta

import pytest
from PIL import ExifTags, Image
from sqlalchemy import select

from fieldsvc.audit.models import AuditEvent
from fieldsvc.extensions import db
from fieldsvc.incidents.models import Attachment
from fieldsvc.parts.models import Part
from fieldsvc.parts.services import OrderDetails, update_part_order
from fieldsvc.proposals import sending
from fieldsvc.proposals import services as proposal_services
from fieldsvc.proposals.models import Proposal
from tests.factories import PASSWORD
from tests.proposals.broken_transmitters import approve, build_broken_transmitters, visit_at

PROBLEM = "application/problem+json"


@pytest.fixture
def seed(app):
    return build_broken_transmitters()


def _phone_jpeg() -> bytes:
    exif = Image.Exif()
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (48.0, 51.0, 29.0)
    out = io.BytesIO()
    Image.new("RGB", (64, 48), "orange").save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def _upload(api, incident_id, data: bytes, name="site.jpg", key=None, **fields):
    headers = {"Idempotency-Key": key} if key else {}
    return api.post(
        f"/incidents/{incident_id}/photos",
        data={"photo": (io.BytesIO(data), name), **fields},
        headers=headers,
        content_type="multipart/form-data",
    )


def _edit_body(incident) -> dict:
    return {
        "customer_id": incident.customer_id,
        "site_id": incident.site_id,
        "reported_via": incident.reported_via.value,
        "severity": "critical",
        "occurred_at": incident.occurred_at.isoformat(),
        "actual": incident.actual,
        "reporter_contact_id": incident.reporter_contact_id,
        "cause_category": incident.cause_category.value,
        "reason": "The plant stopped the line: critical.",
    }


# --- incidents -----------------------------------------------------------------------------


def test_an_incident_is_corrected_only_with_the_etag_of_what_was_read(api_as, seed):
    api = api_as(seed.technician)
    path = f"/incidents/{seed.incident.id}"
    etag = api.get(path).headers["ETag"]
    body = _edit_body(seed.incident)

    without = api.put(path, json=body)
    saved = api.put(path, json=body, headers={"If-Match": etag})
    stale = api.put(path, json={**body, "severity": "low"}, headers={"If-Match": etag})
    elsewhere = api.put(
        path, json={**body, "site_id": None, "equipment_ids": [1]}, headers={"If-Match": "*"}
    )

    assert without.status_code == 428 and without.mimetype == PROBLEM
    assert saved.status_code == 200 and saved.json["severity"] == "critical"
    assert saved.headers["ETag"] != etag
    assert stale.status_code == 412 and stale.mimetype == PROBLEM
    assert elsewhere.status_code == 400
    assert elsewhere.json["errors"] == [
        {"field": "site_id", "message": "Choose the site of the equipment."}
    ]
    db.session.expire_all()
    assert seed.incident.severity.value == "critical"
    timeline = api.get(path).json["timeline"]
    assert any(entry["reason"] == body["reason"] for entry in timeline)


def test_an_incidents_status_moves_only_as_staff_may_by_hand(api_as, seed):
    api = api_as(seed.technician)
    path = f"/incidents/{seed.incident.id}/status"

    proposed = api.post(path, json={"status": "remediation_proposed"})
    no_note = api.post(path, json={"status": "resolved"})
    stale = api.post(path, json={"status": "cancelled"}, headers={"If-Match": '"not-it"'})
    resolved = api.post(path, json={"status": "resolved", "note": "Both replaced."})
    closed = api.post(
        path, json={"status": "closed"}, headers={"If-Match": resolved.headers["ETag"]}
    )
    reopened = api.post(path, json={"status": "open"})

    assert proposed.status_code == 409 and proposed.mimetype == PROBLEM
    assert proposed.json["detail"] == (
        "Remediation proposed is set by sending an approved proposal to the customer, not by hand."
    )
    assert no_note.status_code == 400
    assert no_note.json["errors"] == [
        {"field": "note", "message": "Say how it was resolved: a resolution note is needed."}
    ]
    assert stale.status_code == 412
    assert resolved.status_code == 200 and resolved.json["resolution_note"] == "Both replaced."
    assert closed.status_code == 200 and closed.json["status"] == "closed"
    assert reopened.status_code == 409
    assert "it cannot become open" in reopened.json["detail"]


def test_a_photo_is_uploaded_once_per_key_without_its_location_and_read_back(app, api_as, seed):
    api = api_as(seed.technician)
    incident = seed.incident.id

    first = _upload(api, incident, _phone_jpeg(), key="k-1", caption="Broken  PT-107")
    again = _upload(api, incident, _phone_jpeg(), key="k-1")
    shown = _upload(api, incident, _phone_jpeg(), name="rig.jpg", shown_to_customer="true")
    not_a_photo = _upload(api, incident, b"%PDF-1.7 not a photo", name="scan.jpg")
    app.config["MAX_PHOTO_BYTES"] = 100
    too_big = _upload(api, incident, _phone_jpeg())
    listed = api.get(f"/incidents/{incident}/photos").json
    image = api.get(first.json["url"].removeprefix("/api/v1"))
    thumbnail = api.get(first.json["thumbnail_url"].removeprefix("/api/v1"))

    assert first.status_code == 201 and first.json["caption"] == "Broken PT-107"
    assert again.status_code == 200 and again.json["id"] == first.json["id"]
    assert [(p["filename"], p["shown_to_customer"]) for p in listed] == [
        ("site.jpg", False),
        ("rig.jpg", True),
    ]
    assert shown.status_code == 201
    assert (
        not_a_photo.status_code == 400 and "scan.jpg is not a photo" in not_a_photo.json["detail"]
    )
    assert too_big.status_code == 400 and "photos can be at most" in too_big.json["detail"]
    assert image.status_code == 200 and image.mimetype == "image/jpeg"
    assert not Image.open(io.BytesIO(image.data)).getexif().get_ifd(ExifTags.IFD.GPSInfo)
    assert thumbnail.status_code == 200 and thumbnail.mimetype == "image/jpeg"
    stored = db.session.scalars(select(Attachment).where(Attachment.incident_id == incident))
    assert len(list(stored)) == 2


# --- suppliers and the parts catalogue ----------------------------------------------------------


def test_everyone_reads_the_catalogue_and_only_admins_change_it(api_as, seed):
    technician, admin = api_as(seed.technician), api_as(seed.admin)

    listed = technician.get("/parts?q=PTX").json["items"]
    added = technician.post(
        "/parts", json={"number": "PTX-500", "description": "x", "list_price": "1"}
    )
    created = admin.post(
        "/parts",
        json={"number": "PTX-500", "description": "PTX-500 transmitter", "list_price": "420.00"},
    )
    duplicate = admin.post(
        "/parts", json={"number": "ptx-400", "description": "Again", "list_price": "1.00"}
    )
    part = admin.get(f"/parts/{created.json['id']}")
    repriced = admin.put(
        f"/parts/{created.json['id']}",
        json={"number": "PTX-500", "description": "PTX-500 transmitter", "list_price": "399.00"},
        headers={"If-Match": part.headers["ETag"]},
    )
    stale = admin.put(
        f"/parts/{created.json['id']}",
        json={"number": "PTX-500", "description": "Other", "list_price": "1.00"},
        headers={"If-Match": part.headers["ETag"]},
    )
    supplier = admin.post("/suppliers", json={"name": "Fast Parts", "email": "orders@fast.example"})

    assert [p["number"] for p in listed] == ["PTX-400"]
    assert added.status_code == 403 and added.mimetype == PROBLEM
    assert created.status_code == 201 and created.json["list_price"] == "420.00"
    assert duplicate.status_code == 400
    assert duplicate.json["errors"] == [
        {"field": "number", "message": "Part number ptx-400 is already in the catalogue."}
    ]
    assert repriced.status_code == 200 and repriced.json["list_price"] == "399.00"
    assert stale.status_code == 412
    assert supplier.status_code == 201
    assert technician.get(f"/suppliers/{supplier.json['id']}").json["name"] == "Fast Parts"
    assert db.session.get(Part, created.json["id"]).list_price == 399


# --- submit, approve, send -----------------------------------------------------------------------


def test_a_proposal_goes_through_submit_approve_and_send_with_its_etag(api_as, seed, smtp_server):
    technician, supervisor = api_as(seed.technician), api_as(seed.supervisor)
    path = f"/proposals/{seed.proposal.id}"
    etag = technician.get(path).headers["ETag"]

    unsent_if_match = technician.post(f"{path}/submit")
    submitted = technician.post(f"{path}/submit", headers={"If-Match": etag})
    stale = supervisor.post(
        f"{path}/approve", json={"password": PASSWORD}, headers={"If-Match": etag}
    )
    by_technician = technician.post(
        f"{path}/approve",
        json={"password": PASSWORD},
        headers={"If-Match": submitted.headers["ETag"]},
    )
    wrong_password = supervisor.post(
        f"{path}/approve",
        json={"password": "not it"},
        headers={"If-Match": submitted.headers["ETag"]},
    )
    approved = supervisor.post(
        f"{path}/approve",
        json={"password": PASSWORD},
        headers={"If-Match": submitted.headers["ETag"]},
    )
    sent = supervisor.post(f"{path}/send", headers={"If-Match": approved.headers["ETag"]})

    assert unsent_if_match.status_code == 428
    assert submitted.status_code == 200 and submitted.json["status"] == "submitted"
    assert stale.status_code == 412
    assert by_technician.status_code == 403
    assert wrong_password.status_code == 400
    assert wrong_password.json["errors"][0]["field"] == "password"
    assert approved.status_code == 200 and approved.json["status"] == "approved"
    assert approved.json["approval"]["reviewed_by"] == seed.supervisor.name
    assert sent.status_code == 200 and sent.json["status"] == "sent"
    assert sent.json["sent"]["pdf_sha256"]
    assert [message["To"] for message in smtp_server.messages] == [seed.contact.email]
    reasons = db.session.scalars(select(AuditEvent.reason))
    assert any((reason or "").startswith("API token") for reason in reasons)


def test_approving_with_wrong_passwords_locks_the_account_and_says_when_to_try_again(
    app, api_as, seed
):
    app.config["LOGIN_ACCOUNT_LIMIT"] = "3 per 15 minutes"
    revision = seed.proposal.current
    proposal_services.submit_revision(
        revision, actor=seed.technician, expected_version=revision.version
    )
    db.session.commit()
    supervisor = api_as(seed.supervisor)
    path, etag = f"/proposals/{seed.proposal.id}/approve", f'"v{revision.version}"'

    wrong = [
        supervisor.post(path, json={"password": "not it"}, headers={"If-Match": etag})
        for _ in range(3)
    ]
    locked = supervisor.post(path, json={"password": PASSWORD}, headers={"If-Match": etag})

    assert [answer.status_code for answer in wrong] == [400, 400, 400]
    assert locked.status_code == 429 and locked.mimetype == PROBLEM
    assert "Too many wrong passwords for this account" in locked.json["detail"]
    assert 14 * 60 < int(locked.headers["Retry-After"]) <= 15 * 60
    db.session.refresh(revision)
    assert revision.status.value == "submitted"


def test_submit_is_refused_with_every_problem_of_the_send_gate(api_as, seed):
    api = api_as(seed.technician)
    drafted = api.post(f"/incidents/{seed.incident.id}/proposals", json={"plan": "Fit them"})
    path = f"/proposals/{drafted.json['id']}"

    refused = api.post(f"{path}/submit", headers={"If-Match": drafted.headers["ETag"]})

    revision = db.session.get(Proposal, drafted.json["id"]).current
    gate = [problem.message for problem in proposal_services.send_gate(revision)]
    assert refused.status_code == 400 and refused.mimetype == PROBLEM
    assert refused.json["errors"] == [{"field": "send_gate", "message": m} for m in gate]
    assert len(gate) >= 3 and revision.status.value == "draft"


def test_a_supervisor_cannot_approve_their_own_proposal(api_as, seed):
    supervisor = api_as(seed.supervisor)
    own = proposal_services.draft_proposal(seed.incident, seed.draft(), actor=seed.supervisor)
    proposal_services.submit_revision(own.current, actor=seed.supervisor, expected_version=1)
    db.session.commit()

    refused = supervisor.post(
        f"/proposals/{own.id}/approve",
        json={"password": PASSWORD},
        headers={"If-Match": f'"v{own.current.version}"'},
    )

    assert refused.status_code == 403 and refused.mimetype == PROBLEM
    assert {
        "field": "approval",
        "message": "You wrote this proposal; another supervisor must approve it.",
    } in refused.json["errors"]
    assert own.current.status.value == "submitted"


def test_send_is_refused_with_the_send_gates_problems_when_a_delivery_slips(api_as, seed):
    revision = approve(seed)
    # The supplier now delivers after the return visit: the fix no longer exists in time.
    order = seed.order
    update_part_order(
        order,
        OrderDetails(
            supplier_id=order.supplier_id,
            po_number=order.po_number,
            ordered_on=order.ordered_on,
            expected_on=visit_at().date() + timedelta(days=3),
        ),
        actor=seed.technician,
    )
    db.session.commit()

    refused = api_as(seed.supervisor).post(
        f"/proposals/{seed.proposal.id}/send", headers={"If-Match": f'"v{revision.version}"'}
    )

    problems = sending.send_problems(revision, seed.supervisor)
    assert refused.status_code == 403 and refused.mimetype == PROBLEM
    assert refused.json["errors"] == [{"field": "send", "message": m} for m in problems]
    assert any("after the return visit" in m for m in problems)
    db.session.expire_all()
    assert revision.status.value == "approved" and revision.pdf_key is None


# --- who may -------------------------------------------------------------------------------------


def test_another_teams_objects_are_not_found_and_a_token_needs_the_scope(api_as, seed):
    other = build_broken_transmitters(other="Other ")
    photo = _upload(api_as(other.technician), other.incident.id, _phone_jpeg()).json["id"]
    api = api_as(seed.supervisor)
    incident, proposal = f"/incidents/{other.incident.id}", f"/proposals/{other.proposal.id}"
    any_version = {"If-Match": "*"}
    password = {"json": {"password": PASSWORD}, "headers": any_version}

    not_found = [
        ("PUT", incident, {"json": _edit_body(other.incident), "headers": any_version}),
        ("POST", f"{incident}/status", {"json": {"status": "cancelled"}}),
        ("GET", f"{incident}/photos", {}),
        ("GET", f"{incident}/photos/{photo}", {}),
        ("GET", f"{incident}/photos/{photo}/thumbnail", {}),
        ("POST", f"{proposal}/submit", {"headers": any_version}),
        ("POST", f"{proposal}/approve", password),
        ("POST", f"{proposal}/send", {"headers": any_version}),
    ]
    for method, path, options in not_found:
        answer = api.open(method, path, **options)
        assert (answer.status_code, answer.mimetype) == (404, PROBLEM), (method, path)
    assert _upload(api, other.incident.id, _phone_jpeg()).status_code == 404

    reader = api_as(seed.admin, scopes=["customers:read", "incidents:read", "proposals:read"])
    mine, own = f"/incidents/{seed.incident.id}", f"/proposals/{seed.proposal.id}"
    part = {"number": "X-1", "description": "x", "list_price": "1.00"}
    needs_scope = [
        ("GET", "/parts", {}),
        ("GET", f"/parts/{seed.part.id}", {}),
        ("GET", "/suppliers", {}),
        ("POST", "/parts", {"json": part}),
        ("PUT", f"/parts/{seed.part.id}", {"json": part}),
        ("POST", "/suppliers", {"json": {"name": "x"}}),
        ("PUT", mine, {"json": _edit_body(seed.incident), "headers": any_version}),
        ("POST", f"{mine}/status", {"json": {"status": "cancelled"}}),
        ("POST", f"{own}/submit", {"headers": any_version}),
        ("POST", f"{own}/approve", password),
        ("POST", f"{own}/send", {"headers": any_version}),
    ]
    for method, path, options in needs_scope:
        answer = reader.open(method, path, **options)
        assert (answer.status_code, answer.mimetype) == (403, PROBLEM), (method, path)
        assert "lacks the" in answer.json["detail"]
    assert _upload(reader, seed.incident.id, _phone_jpeg()).status_code == 403
    db.session.expire_all()
    assert seed.incident.status.value == "open" and seed.revision.status.value == "draft"
