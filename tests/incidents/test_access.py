"""Who sees which incident (admins all; others their team's customers'; no team, none),
its photos served only under its own URL, and adding photos through the incident page."""

import io
import random
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from fieldsvc.audit.models import AuditEvent
from fieldsvc.auth.models import Role
from fieldsvc.clock import to_local
from fieldsvc.customers.models import Customer
from fieldsvc.database import utcnow
from fieldsvc.extensions import db
from fieldsvc.incidents.models import Attachment
from fieldsvc.incidents.photos import process_photo
from fieldsvc.incidents.services import promise_follow_up

NOT_A_PHOTO = "{} is not a photo: only JPEG, PNG or WebP images can be attached."
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _local(value: datetime) -> str:
    return to_local(value).strftime("%Y-%m-%dT%H:%M")


def _jpeg(size=(64, 48), noise: bool = False) -> bytes:
    if noise:  # random pixels compress badly: a small image makes a large file
        pixels = random.Random(7).randbytes(size[0] * size[1] * 3)
        image = Image.frombytes("RGB", size, pixels)
    else:
        image = Image.new("RGB", size, "orange")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    return out.getvalue()


def _stored_files(upload_dir: Path) -> set[Path]:
    if not upload_dir.exists():
        return set()
    return {path.relative_to(upload_dir) for path in upload_dir.rglob("*") if path.is_file()}


@pytest.fixture
def photo(app):
    return process_photo(
        _jpeg(),
        "site.jpg",
        max_bytes=app.config["MAX_PHOTO_BYTES"],
        max_pixels=app.config["MAX_PHOTO_PIXELS"],
    )


@pytest.fixture
def their_team(make_team):
    return make_team(name="North crew")


@pytest.fixture
def their_site(make_site, their_team):
    return make_site(customer=Customer(name="Northwind Pharma", team=their_team))


@pytest.fixture
def theirs(make_incident, make_equipment, their_site, photo):
    """North crew's incident, with equipment, a photo and a follow-up."""
    equipment = make_equipment(site=their_site, tag="PT-7001")
    incident = make_incident(site=their_site, equipment_ids=[equipment.id], photos=[photo])
    promise_follow_up(
        incident,
        actor=incident.created_by,
        owner_id=incident.created_by_id,
        due_at=utcnow() + timedelta(days=1),
        promise="Call back with a delivery date",
    )
    db.session.commit()
    return incident


def _photo_url(incident, attachment, size: str = "") -> str:
    return f"/incidents/{incident.id}/photos/{attachment.id}" + (f"/{size}" if size else "")


# --- another team ---------------------------------------------------------------------------


GETS = {
    "incident": lambda i: f"/incidents/{i.id}",
    "photo": lambda i: _photo_url(i, i.attachments[0]),
    "thumbnail": lambda i: _photo_url(i, i.attachments[0], "thumbnail"),
    "equipment-options": lambda i: f"/incidents/equipment-options?site_id={i.site_id}",
}


@pytest.mark.parametrize("role", [Role.TECHNICIAN, Role.SUPERVISOR])
@pytest.mark.parametrize("page", list(GETS))
def test_another_teams_incident_pages_are_not_found(
    client, signed_in, make_team, theirs, role, page
):
    signed_in(role, team=make_team())

    response = client.get(GETS[page](theirs))

    assert response.status_code == 404
    assert "Northwind" not in response.get_data(as_text=True)


def _posts(incident) -> dict[str, tuple[str, dict]]:
    """A valid form for each change, so only the access rule can refuse it."""
    base = f"/incidents/{incident.id}"
    follow_up = incident.follow_ups[0]
    return {
        "work": (
            f"{base}/work",
            {
                "work-started_at": _local(utcnow() - timedelta(hours=1)),
                "work-minutes": "30",
                "work-note": "x",
            },
        ),
        "communication": (
            f"{base}/communications",
            {"channel": "phone", "direction": "inbound", "summary": "Called"},
        ),
        "follow-up": (
            f"{base}/follow-ups",
            {
                "owner_id": incident.created_by_id,
                "due_at": _local(utcnow() + timedelta(days=1)),
                "promise": "Call back",
            },
        ),
        "close-follow-up": (
            f"{base}/follow-ups/{follow_up.id}/close",
            {f"close-{follow_up.id}-outcome": "done", f"close-{follow_up.id}-note": "Called"},
        ),
        "status": (f"{base}/status", {"status-status": "cancelled", "status-note": "Duplicate"}),
        "photos": (f"{base}/photos", {"photos": [(io.BytesIO(_jpeg()), "a.jpg")]}),
    }


@pytest.mark.parametrize(
    "change", ["work", "communication", "follow-up", "close-follow-up", "status", "photos"]
)
def test_another_teams_incident_cannot_be_changed(
    client, signed_in, make_team, theirs, upload_dir, change
):
    signed_in(Role.TECHNICIAN, team=make_team())
    url, data = _posts(theirs)[change]
    events, files = _count(AuditEvent), _stored_files(upload_dir)

    response = client.post(url, data=data, content_type="multipart/form-data")

    assert response.status_code == 404
    assert _count(AuditEvent) == events
    assert _stored_files(upload_dir) == files


def test_another_teams_incident_is_not_in_the_list_or_search(
    client, signed_in, make_team, make_incident, theirs
):
    me = signed_in(Role.TECHNICIAN, team=make_team())
    ours = make_incident(actor=me, actual="PT-7001 leaking at the flange")
    db.session.commit()

    listed = client.get("/incidents/").get_data(as_text=True)
    assert ours.reference in listed and theirs.reference not in listed
    assert "Northwind" not in listed

    by_tag = client.get("/incidents/?q=PT-7001").get_data(as_text=True)
    assert ours.reference in by_tag and theirs.reference not in by_tag
    by_reference = client.get(f"/incidents/?q={theirs.reference}").get_data(as_text=True)
    assert "No incidents match these filters." in by_reference


def test_an_admin_sees_every_teams_incident(client, signed_in, theirs):
    signed_in(Role.ADMIN)

    assert client.get(f"/incidents/{theirs.id}").status_code == 200
    assert client.get(GETS["photo"](theirs)).status_code == 200
    assert theirs.reference in client.get("/incidents/").get_data(as_text=True)
    assert theirs.reference in client.get("/incidents/?q=PT-7001").get_data(as_text=True)


def test_a_user_without_a_team_sees_no_incidents(client, signed_in, theirs):
    signed_in(Role.SUPERVISOR)

    assert "No incidents." in client.get("/incidents/").get_data(as_text=True)
    assert client.get(f"/incidents/{theirs.id}").status_code == 404
    assert client.get(GETS["equipment-options"](theirs)).status_code == 404


def test_an_incident_of_a_customer_no_team_serves_is_seen_only_by_admins(
    app, client, make_user, make_incident, make_site
):
    admin = make_user(Role.ADMIN)
    unserved = make_incident(actor=admin, site=make_site())  # its customer has no team
    teamless = make_user(Role.TECHNICIAN)
    db.session.commit()
    assert unserved.customer.team_id is None

    client.sign_in(teamless.email)
    assert client.get(f"/incidents/{unserved.id}").status_code == 404
    assert unserved.reference not in client.get("/incidents/").get_data(as_text=True)

    admins = app.test_client().sign_in(admin.email)
    assert admins.get(f"/incidents/{unserved.id}").status_code == 200


@pytest.mark.parametrize("size", ["", "thumbnail"])
def test_a_photo_is_only_served_under_its_own_incidents_url(
    client, signed_in, make_incident, theirs, their_site, their_team, photo, size
):
    other = make_incident(site=their_site, photos=[photo])
    db.session.commit()
    signed_in(Role.TECHNICIAN, team=their_team)

    borrowed = client.get(_photo_url(other, theirs.attachments[0], size))

    assert borrowed.status_code == 404
    assert client.get(_photo_url(theirs, theirs.attachments[0], size)).status_code == 200
    assert client.get(_photo_url(other, other.attachments[0], size)).status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        lambda i: "/incidents/",
        lambda i: f"/incidents/{i.id}",
        lambda i: _photo_url(i, i.attachments[0]),
        lambda i: "/my-day",
    ],
    ids=["list", "incident", "photo", "my-day"],
)
def test_anonymous_visitors_are_sent_to_sign_in(client, theirs, url):
    response = client.get(url(theirs))

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_an_anonymous_change_is_sent_to_sign_in_and_saves_nothing(client, theirs):
    url, data = _posts(theirs)["work"]
    events = _count(AuditEvent)

    response = client.post(url, data=data)

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert _count(AuditEvent) == events


# --- photos for the team ----------------------------------------------------------------------


def test_a_team_member_gets_the_photo_and_its_thumbnail_as_jpeg(
    client, signed_in, their_team, theirs, upload_dir
):
    signed_in(Role.TECHNICIAN, team=their_team)
    attachment = theirs.attachments[0]

    full = client.get(_photo_url(theirs, attachment))
    thumbnail = client.get(_photo_url(theirs, attachment, "thumbnail"))

    assert full.status_code == thumbnail.status_code == 200
    assert full.mimetype == thumbnail.mimetype == "image/jpeg"
    assert full.data == (upload_dir / attachment.storage_key).read_bytes()
    assert thumbnail.data == (upload_dir / attachment.thumbnail_key).read_bytes()
    assert Image.open(io.BytesIO(full.data)).size == (64, 48)
    page = client.get(f"/incidents/{theirs.id}").get_data(as_text=True)
    assert _photo_url(theirs, attachment, "thumbnail") in page


def test_photos_added_on_the_incident_page_are_stored_and_shown(
    client, signed_in, their_team, theirs, upload_dir
):
    member = signed_in(Role.TECHNICIAN, team=their_team)

    response = client.post(
        f"/incidents/{theirs.id}/photos",
        data={"photos": [(io.BytesIO(_jpeg()), "a.jpg"), (io.BytesIO(_jpeg((32, 32))), "b.jpg")]},
        content_type="multipart/form-data",
    )

    assert response.status_code == 302
    added = db.session.scalars(
        select(Attachment).where(Attachment.uploaded_by_id == member.id).order_by(Attachment.id)
    ).all()
    assert [a.filename for a in added] == ["a.jpg", "b.jpg"]
    for attachment in added:
        assert (upload_dir / attachment.storage_key).is_file()
        assert (upload_dir / attachment.thumbnail_key).is_file()
    page = client.get(f"/incidents/{theirs.id}").get_data(as_text=True)
    assert "2 photo(s) added: 0 shown to the customer, 2 kept for us." in page
    assert 'Photos <span class="muted">(3)</span>' in page


@pytest.mark.parametrize(
    ("filename", "data", "message"),
    [
        ("report.jpg", PDF, NOT_A_PHOTO.format("report.jpg")),
        ("drawing.svg", SVG, NOT_A_PHOTO.format("drawing.svg")),
        ("big.jpg", _jpeg((300, 300), noise=True), "photos can be at most"),
        ("", b"", "Choose at least one photo."),
    ],
    ids=["pdf-renamed-jpg", "svg", "too-large", "no-file"],
)
def test_an_upload_that_is_not_an_acceptable_photo_is_refused_and_nothing_is_stored(
    app, client, signed_in, their_team, theirs, upload_dir, filename, data, message
):
    app.config["MAX_PHOTO_BYTES"] = 50_000
    assert len(_jpeg((300, 300), noise=True)) > 50_000  # the large file is large
    signed_in(Role.TECHNICIAN, team=their_team)
    attachments, files = _count(Attachment), _stored_files(upload_dir)

    response = client.post(
        f"/incidents/{theirs.id}/photos",
        data={"photos": [(io.BytesIO(data), filename)]},
        content_type="multipart/form-data",
    )

    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert "<svg" not in response.get_data(as_text=True)
    assert _count(Attachment) == attachments
    assert _stored_files(upload_dir) == files


def test_one_bad_file_among_good_photos_stores_none_of_them(
    client, signed_in, their_team, theirs, upload_dir
):
    signed_in(Role.TECHNICIAN, team=their_team)
    attachments, files = _count(Attachment), _stored_files(upload_dir)

    response = client.post(
        f"/incidents/{theirs.id}/photos",
        data={"photos": [(io.BytesIO(_jpeg()), "good.jpg"), (io.BytesIO(PDF), "report.jpg")]},
        content_type="multipart/form-data",
    )

    assert response.status_code == 400
    assert NOT_A_PHOTO.format("report.jpg") in response.get_data(as_text=True)
    assert _count(Attachment) == attachments
    assert _stored_files(upload_dir) == files
