"""What a tablet may keep for offline reading: the bundle of the new-incident form's
reference data for the user's team (bounded in size), the incidents they work on, and
which responses are marked as keepable for their user; signing out clears the browser."""

import io
import json

import pytest
from PIL import Image

from fieldsvc.auth.models import Role
from fieldsvc.customers.models import Customer
from fieldsvc.database import utcnow
from fieldsvc.extensions import db
from fieldsvc.incidents.models import IncidentStatus
from fieldsvc.incidents.photos import process_photo
from fieldsvc.incidents.services import attach_photos, change_status, log_work
from fieldsvc.offline import queries
from fieldsvc.offline.keys import user_key
from fieldsvc.offline.views import KEEP_HEADER
from fieldsvc.sizes import MB


@pytest.fixture
def team_site(make_team, make_site):
    team = make_team()
    return team, make_site(customer=Customer(name="Northwind Pharma", team=team))


def _bundle(client) -> dict:
    response = client.get("/offline/bundle")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-store"
    return json.loads(response.data)


def test_the_bundle_holds_the_reference_data_of_the_users_team_only(
    client, signed_in, team_site, make_site, make_equipment, make_contact, make_team
):
    team, site = team_site
    make_equipment(site=site, tag="PT-107", model="Rosemount 3051", serial="S-1")
    make_contact(customer=site.customer, name="Dana Whitfield")
    other = make_site(customer=Customer(name="Contoso Foods", team=make_team()), name="Plant 9")
    make_equipment(site=other, tag="TT-900")
    user = signed_in(Role.TECHNICIAN, team=team)

    bundle = _bundle(client)

    assert bundle["user"] == user_key(user)
    assert [c["name"] for c in bundle["customers"]] == ["Northwind Pharma"]
    assert [s["name"] for s in bundle["sites"]] == [site.name]
    assert bundle["equipment"] == [
        {
            "id": bundle["equipment"][0]["id"],
            "tag": "PT-107",
            "detail": "Rosemount 3051 · S-1",
            "site_id": site.id,
        }
    ]
    assert [c["name"] for c in bundle["contacts"]] == ["Dana Whitfield"]
    assert bundle["complete"] is True
    assert bundle["keep_days"] == 7


def test_the_bundle_is_for_signed_in_staff_only(client):
    response = client.get("/offline/bundle")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_a_bundle_larger_than_its_bound_keeps_what_fits_and_says_it_is_incomplete(
    app, team_site, make_equipment, make_user
):
    team, site = team_site
    for n in range(40):
        make_equipment(site=site, tag=f"PT-{n:03d}", model="M" * 150)
    user = make_user(Role.TECHNICIAN, team=team)
    bound = queries._Budget.ENVELOPE + 3_000

    data = queries.reference_data(user, max_bytes=bound)

    assert data.complete is False
    assert 0 < len(data.equipment) < 40
    rows = data.customers + data.sites + data.equipment + data.contacts
    assert len(queries.to_json(rows)) <= bound - queries._Budget.ENVELOPE


def test_the_bundles_stated_bound_is_one_megabyte():
    assert queries.BUNDLE_MAX_BYTES == 1_000_000


def test_the_bundle_lists_the_open_incidents_the_user_reported_worked_on_or_owes(
    client, signed_in, team_site, make_incident, make_user
):
    team, site = team_site
    user = signed_in(Role.TECHNICIAN, team=team)
    colleague = make_user(Role.TECHNICIAN, team=team)
    reported = make_incident(actor=user, site=site)
    worked_on = make_incident(actor=colleague, site=site)
    log_work(worked_on, actor=user, started_at=utcnow(), minutes=30, note="Checked the rig")
    someone_elses = make_incident(actor=colleague, site=site)
    cancelled = make_incident(actor=user, site=site)
    change_status(cancelled, IncidentStatus.CANCELLED, actor=user, note="Reported twice")
    photo = process_photo(_jpeg(), "rig.jpg", max_bytes=15 * MB, max_pixels=50_000_000)
    (attachment,) = attach_photos(reported, [photo], actor=user)
    db.session.commit()

    pages = _bundle(client)["pages"]

    assert f"/incidents/{reported.id}" in pages
    assert f"/incidents/{worked_on.id}" in pages
    assert f"/incidents/{someone_elses.id}" not in pages
    assert f"/incidents/{cancelled.id}" not in pages
    assert f"/incidents/{reported.id}/photos/{attachment.id}/thumbnail" in pages
    assert {"/my-day", "/incidents/new"} <= set(pages)


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), "orange").save(out, "JPEG")
    return out.getvalue()


def test_pages_a_technician_reads_on_site_are_marked_keepable_for_their_user(
    client, signed_in, team_site, make_incident
):
    team, site = team_site
    user = signed_in(Role.TECHNICIAN, team=team)
    incident = make_incident(actor=user, site=site)
    photo = process_photo(_jpeg(), "rig.jpg", max_bytes=15 * MB, max_pixels=50_000_000)
    (attachment,) = attach_photos(incident, [photo], actor=user)
    db.session.commit()
    photos = f"/incidents/{incident.id}/photos/{attachment.id}"

    for url in ("/my-day", "/incidents/new", f"/incidents/{incident.id}", f"{photos}/thumbnail"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers[KEEP_HEADER] == user_key(user), url

    for url in ("/incidents/", photos, f"/incidents/{incident.id}/dispute-pack", "/customers/"):
        assert KEEP_HEADER not in client.get(url).headers, url


def test_admin_pages_and_pages_read_signed_out_are_never_marked_keepable(client, signed_in):
    assert KEEP_HEADER not in client.get("/login").headers
    assert KEEP_HEADER not in client.get("/offline").headers
    signed_in(Role.ADMIN)
    assert KEEP_HEADER not in client.get("/users").headers
    assert KEEP_HEADER in client.get("/my-day").headers


def test_no_page_is_left_in_the_browsers_own_cache_for_the_next_person(client, signed_in):
    signed_in(Role.TECHNICIAN)

    for url in ("/my-day", "/incidents/", "/incidents/new", "/settings"):
        assert client.get(url).headers["Cache-Control"] == "no-store", url


def test_each_person_has_a_key_of_their_own_derived_with_the_apps_secret(app, make_user):
    first, second = make_user(Role.TECHNICIAN), make_user(Role.TECHNICIAN)
    key = user_key(first)
    assert key != user_key(second)
    assert key == user_key(first)
    app.config["SECRET_KEY"] = "another-installation-secret"
    assert user_key(first) != key


def test_signing_out_tells_the_browser_to_clear_its_caches_and_storage(client, signed_in):
    signed_in(Role.TECHNICIAN)
    response = client.post("/logout")
    assert response.status_code == 302
    assert response.headers["Clear-Site-Data"] == '"cache", "storage"'
    assert "Clear-Site-Data" not in client.get("/login").headers
