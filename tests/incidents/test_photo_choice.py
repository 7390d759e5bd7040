"""Which photos the customer sees: chosen per photo, with a caption, as the photo is added
(report form, "add photos") and later on the incident page by the incident's team;
kept for us unless chosen; every change in the trail with who, before and after."""

import io

import pytest
from PIL import Image
from sqlalchemy import func, select

from fieldsvc.audit.models import AuditEvent
from fieldsvc.auth.models import Role
from fieldsvc.customers.models import Customer
from fieldsvc.errors import NotAllowed
from fieldsvc.extensions import db
from fieldsvc.incidents import services
from fieldsvc.incidents.models import Attachment, Incident
from fieldsvc.incidents.photos import process_photo
from fieldsvc.incidents.services import PhotoChoice
from tests.incidents.test_reporting import _form


def _jpeg(colour="orange") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def team(make_team):
    return make_team(name="North crew")


@pytest.fixture
def site(make_site, team):
    return make_site(customer=Customer(name="Northwind Pharma", team=team))


@pytest.fixture
def incident(make_incident, site):
    """North crew's incident with one photo, added without a choice."""
    photo = process_photo(_jpeg(), "rig.jpg", max_bytes=10**6, max_pixels=10**6)
    incident = make_incident(site=site, photos=[photo])
    db.session.commit()
    return incident


def _choose(client, incident, photo, **fields):
    prefix = f"photo-{photo.id}-"
    return client.post(
        f"/incidents/{incident.id}/photos/{photo.id}",
        data={prefix + name: value for name, value in fields.items()},
    )


def _photo_events(photo) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.object_type == "Attachment", AuditEvent.object_id == photo.id)
            .order_by(AuditEvent.seq)
        )
    )


def test_a_photo_added_without_a_choice_is_kept_for_us(incident):
    (photo,) = incident.attachments

    assert (photo.shown_to_customer, photo.caption) == (False, None)


def test_photos_added_on_the_incident_page_carry_the_choice_made_for_each(
    client, signed_in, team, incident
):
    signed_in(Role.TECHNICIAN, team=team)

    response = client.post(
        f"/incidents/{incident.id}/photos",
        data={
            "photos": [
                (io.BytesIO(_jpeg("red")), "a.jpg"),
                (io.BytesIO(_jpeg("blue")), "b.jpg"),
                (io.BytesIO(_jpeg("green")), "c.jpg"),
            ],
            "photo_details-0-shown_to_customer": "y",
            "photo_details-0-caption": "  PT-107:\n the cracked diaphragm ",
            "photo_details-1-caption": "",  # a row sends its caption, if empty
            "photo_details-2-caption": "Our rig, for the claim",
        },
        content_type="multipart/form-data",
    )

    assert response.status_code == 302
    added = db.session.scalars(
        select(Attachment).where(Attachment.filename.in_(["a.jpg", "b.jpg", "c.jpg"]))
    ).all()
    chosen = {a.filename: (a.shown_to_customer, a.caption) for a in added}
    assert chosen == {
        "a.jpg": (True, "PT-107: the cracked diaphragm"),
        "b.jpg": (False, None),
        "c.jpg": (False, "Our rig, for the claim"),
    }
    page = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "3 photo(s) added: 1 shown to the customer, 2 kept for us." in page
    assert page.count("Shown to the customer</span>") == 1
    assert page.count("Kept for us</span>") == 3


def test_the_report_form_records_the_choice_made_for_each_photo(client, signed_in, team, site):
    signed_in(Role.TECHNICIAN, team=team)
    data = _form(site) | {
        "photos": [(io.BytesIO(_jpeg("red")), "a.jpg"), (io.BytesIO(_jpeg("blue")), "b.jpg")],
        "photo_details-0-caption": "",
        "photo_details-1-shown_to_customer": "y",
        "photo_details-1-caption": "PT-117 after removal",
    }

    response = client.post("/incidents/new", data=data, content_type="multipart/form-data")

    assert response.status_code == 302
    incident = db.session.scalar(select(Incident))
    assert [(p.filename, p.shown_to_customer, p.caption) for p in incident.attachments] == [
        ("a.jpg", False, None),
        ("b.jpg", True, "PT-117 after removal"),
    ]


def test_the_team_shows_a_photo_with_a_caption_and_the_trail_says_who_and_what_changed(
    client, signed_in, team, incident
):
    supervisor = signed_in(Role.SUPERVISOR, team=team)
    (photo,) = incident.attachments

    response = _choose(
        client, incident, photo, shown_to_customer="y", caption="PT-107, cracked diaphragm"
    )

    assert response.status_code == 302
    assert response.location.endswith(f"#photo-{photo.id}")
    db.session.refresh(photo)
    assert (photo.shown_to_customer, photo.caption) == (True, "PT-107, cracked diaphragm")
    change = _photo_events(photo)[-1]
    assert (change.action, change.actor_id) == ("update", supervisor.id)
    assert change.changes == {
        "shown_to_customer": [False, True],
        "caption": [None, "PT-107, cracked diaphragm"],
    }
    page = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "rig.jpg is shown to the customer." in page
    assert "Shown to the customer</span>" in page

    # And back: kept for us, the caption gone; the trail has that too.
    _choose(client, incident, photo, caption="")
    db.session.refresh(photo)
    assert (photo.shown_to_customer, photo.caption) == (False, None)
    assert _photo_events(photo)[-1].changes == {
        "shown_to_customer": [True, False],
        "caption": ["PT-107, cracked diaphragm", None],
    }


def test_saving_the_same_choice_again_records_nothing(client, signed_in, team, incident):
    signed_in(Role.TECHNICIAN, team=team)
    (photo,) = incident.attachments
    events = len(_photo_events(photo))

    response = _choose(client, incident, photo, caption="")

    assert response.status_code == 302
    assert len(_photo_events(photo)) == events
    assert "Nothing changed." in client.get(f"/incidents/{incident.id}").get_data(as_text=True)


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.TECHNICIAN])
def test_another_teams_staff_cannot_change_what_the_customer_sees(
    client, signed_in, make_team, incident, role
):
    signed_in(role, team=make_team(name="South crew"))
    (photo,) = incident.attachments
    events = db.session.scalar(select(func.count()).select_from(AuditEvent))

    response = _choose(client, incident, photo, shown_to_customer="y", caption="Theirs now")

    assert response.status_code == 404
    db.session.refresh(photo)
    assert (photo.shown_to_customer, photo.caption) == (False, None)
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == events


def test_the_service_refuses_someone_outside_the_team(make_user, make_team, incident):
    outsider = make_user(Role.SUPERVISOR, team=make_team(name="South crew"))
    (photo,) = incident.attachments

    with pytest.raises(NotAllowed):
        services.choose_photo_for_customer(photo, PhotoChoice(True), actor=outsider)
    assert photo.shown_to_customer is False


def test_a_photo_of_another_incident_cannot_be_changed_through_this_one(
    client, signed_in, team, site, make_incident, incident
):
    signed_in(Role.TECHNICIAN, team=team)
    other = make_incident(
        site=site, photos=[process_photo(_jpeg(), "x.jpg", max_bytes=10**6, max_pixels=10**6)]
    )
    db.session.commit()
    (theirs,) = other.attachments

    response = _choose(client, incident, theirs, shown_to_customer="y")

    assert response.status_code == 404
    db.session.refresh(theirs)
    assert theirs.shown_to_customer is False


def test_a_caption_too_long_is_refused_next_to_the_field_and_nothing_changes(
    client, signed_in, team, incident
):
    signed_in(Role.TECHNICIAN, team=team)
    (photo,) = incident.attachments

    response = _choose(client, incident, photo, shown_to_customer="y", caption="x" * 201)

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert f'id="photo-{photo.id}-caption-error"' in page
    assert "200 characters" in page
    db.session.refresh(photo)
    assert (photo.shown_to_customer, photo.caption) == (False, None)


def test_a_caption_is_shown_as_text_on_the_incident_page(client, signed_in, team, incident):
    signed_in(Role.TECHNICIAN, team=team)
    (photo,) = incident.attachments

    _choose(client, incident, photo, shown_to_customer="y", caption="<script>alert(1)</script>")

    page = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
