"""Reporting an incident on the tablet form and by phone: what is saved, what is
refused with a clear message, and that a retried submission never makes two."""

import io
import re
from datetime import timedelta

from markupsafe import escape
from sqlalchemy import func, select

from fieldsvc import clock
from fieldsvc.audit.models import AuditEvent
from fieldsvc.auth.models import Role
from fieldsvc.clock import to_local
from fieldsvc.database import utcnow
from fieldsvc.extensions import db
from fieldsvc.incidents.models import (
    CauseCategory,
    FollowUp,
    Incident,
    IncidentEquipment,
    ReportedVia,
)
from fieldsvc.reports import months
from fieldsvc.reports.models import TeamMonthCount
from tests.concurrency import run_together
from tests.factories import PASSWORD


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _local(value) -> str:
    return to_local(value).strftime("%Y-%m-%dT%H:%M")


def _form(site, equipment=(), **overrides) -> dict:
    return {
        "submission_key": "key-1",
        "customer_id": site.customer_id,
        "site_id": site.id,
        "equipment_ids": [item.id for item in equipment],
        "reported_via": "on_site",
        "severity": "high",
        "expected": "All 30 transmitters calibrated today",
        "actual": "PT-107 and PT-117 over-pressured on our test rig",
        "occurred_at": _local(utcnow() - timedelta(hours=1)),
        "reporter_name": "Dana Whitfield",
        "reporter_phone": "+1 973 555 0142",
        "cause_category": "our_technician",
        "cause_description": "Regulator set to 40 bar instead of 4",
        "technician_statement": "I did not re-check the regulator. My mistake.",
        "claim_reference": "CLM-2026-0413",
    } | overrides


def test_technician_reports_damage_they_caused_with_equipment_and_cause(
    client, signed_in, make_team, make_site, make_equipment
):
    team = make_team()
    technician = signed_in(Role.TECHNICIAN, team=team)
    site = make_site(customer=make_site().customer)
    site.customer.team = team
    broken = [make_equipment(site=site, tag="PT-107"), make_equipment(site=site, tag="PT-117")]
    make_equipment(site=site, tag="PT-101")
    db.session.commit()

    response = client.post("/incidents/new", data=_form(site, broken))

    assert response.status_code == 302
    incident = db.session.scalars(select(Incident)).one()
    assert re.fullmatch(rf"INC-{utcnow().year}-00001", incident.reference)
    assert [item.tag for item in incident.equipment] == ["PT-107", "PT-117"]
    assert incident.cause_category is CauseCategory.OUR_TECHNICIAN
    assert incident.technician_statement == "I did not re-check the regulator. My mistake."
    assert incident.claim_reference == "CLM-2026-0413"
    assert incident.created_by == technician
    page = client.get(response.location).get_data(as_text=True)
    assert f"{incident.reference} recorded." in page
    assert "PT-107" in page and "PT-117" in page
    assert "internal — never shown to the customer" in page
    assert "I did not re-check the regulator." in page
    # The creation is in the audit trail, equipment links included, by the technician.
    actions = db.session.execute(
        select(AuditEvent.object_type, AuditEvent.actor_id).where(AuditEvent.action == "create")
    ).all()
    assert ("Incident", technician.id) in actions
    assert actions.count(("IncidentEquipment", technician.id)) == 2


def test_the_same_submission_twice_makes_one_incident(client, signed_in, make_team, make_site):
    team = make_team()
    signed_in(Role.TECHNICIAN, team=team)
    site = make_site()
    site.customer.team = team
    db.session.commit()

    first = client.post("/incidents/new", data=_form(site))
    retry = client.post("/incidents/new", data=_form(site))

    assert first.status_code == retry.status_code == 302
    assert first.location == retry.location
    assert _count(Incident) == 1
    assert "already recorded as INC-" in client.get(retry.location).get_data(as_text=True)


def test_a_new_form_carries_a_fresh_submission_key(client, signed_in, make_team):
    signed_in(Role.TECHNICIAN, team=make_team())
    keys = {
        re.search(r'name="submission_key" type="hidden" value="([0-9a-f]+)"', page)[1]
        for page in (client.get("/incidents/new").get_data(as_text=True) for _ in range(2))
    }
    assert len(keys) == 2


def test_bad_report_keeps_what_was_typed_and_saves_nothing(
    client, signed_in, make_team, make_site, make_equipment
):
    team = make_team()
    signed_in(Role.TECHNICIAN, team=team)
    site, elsewhere = make_site(), make_site()
    site.customer.team = elsewhere.customer.team = team
    other_site_equipment = make_equipment(site=elsewhere, tag="PT-999")
    db.session.commit()
    cases = [
        ({"customer_id": ""}, "Choose one of your team's customers."),
        ({"site_id": ""}, "Choose the site where it happened."),
        ({"equipment_ids": [other_site_equipment.id]}, "PT-999 is elsewhere"),
        ({"site_id": elsewhere.id}, f"Choose a site of {site.customer.name}."),
        ({"actual": ""}, "Describe what happened."),
        ({"reporter_name": "", "reporter_phone": ""}, "Say who reported it"),
        ({"occurred_at": _local(utcnow() + timedelta(days=2))}, "more than a day from now"),
        ({"occurred_at": "yesterday"}, "Not a valid datetime value."),
    ]
    for change, message in cases:
        data = _form(site, expected="Kept <b>text</b>") | change
        response = client.post("/incidents/new", data=data)
        page = response.get_data(as_text=True)
        assert response.status_code == 400, change
        assert escape(message) in page, change
        assert "Nothing was saved yet" in page
        assert "Kept &lt;b&gt;text&lt;/b&gt;" in page  # what was typed stays, escaped
    assert _count(Incident) == _count(IncidentEquipment) == 0


def test_another_teams_customer_cannot_be_chosen(client, signed_in, make_team, make_site):
    signed_in(Role.TECHNICIAN, team=make_team())
    theirs = make_site()
    theirs.customer.team = make_team()
    db.session.commit()

    page = client.get("/incidents/new").get_data(as_text=True)
    assert theirs.customer.name not in page
    response = client.post("/incidents/new", data=_form(theirs))
    assert response.status_code == 400
    assert "Choose one of your team&#39;s customers." in response.get_data(as_text=True)
    assert _count(Incident) == 0


def test_script_in_text_fields_is_shown_as_text(client, signed_in, make_team, make_site):
    team = make_team()
    signed_in(Role.TECHNICIAN, team=team)
    site = make_site()
    site.customer.team = team
    db.session.commit()
    attack = '<script>alert("x")</script>'

    response = client.post(
        "/incidents/new", data=_form(site, actual=attack, expected=attack, reporter_name=attack)
    )

    page = client.get(response.location).get_data(as_text=True)
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "<script>alert" not in client.get("/incidents/?q=script").get_data(as_text=True)


def test_phone_intake_creates_the_incident_and_the_promised_call_back(
    client, signed_in, make_team, make_site, make_contact
):
    team = make_team()
    office = signed_in(Role.SUPERVISOR, team=team)
    site = make_site()
    site.customer.team = team
    caller = make_contact(customer=site.customer, name="Dana Whitfield")
    db.session.commit()
    call_back = utcnow().replace(second=0, microsecond=0) + timedelta(hours=2)

    response = client.post(
        "/incidents/phone",
        data={
            "submission_key": "call-1",
            "customer_id": site.customer_id,
            "site_id": "",
            "reporter_contact_id": caller.id,
            "actual": "Two transmitters read zero since yesterday's calibration",
            "severity": "high",
            "callback_due_at": _local(call_back),
            "callback_promise": "call back with a delivery date",
        },
    )

    assert response.status_code == 302
    incident = db.session.scalars(select(Incident)).one()
    assert incident.reported_via is ReportedVia.PHONE
    assert incident.site is None
    assert incident.reporter == "Dana Whitfield"
    follow_up = db.session.scalars(select(FollowUp)).one()
    assert follow_up.owner == office
    assert follow_up.due_at == call_back
    assert follow_up.promise.startswith("call back with a delivery date")
    page = client.get(response.location).get_data(as_text=True)
    assert "call back with a delivery date" in page
    assert "not known yet" in page


def test_phone_intake_refuses_a_call_back_in_the_past_and_saves_nothing(
    client, signed_in, make_team, make_site
):
    team = make_team()
    signed_in(Role.SUPERVISOR, team=team)
    site = make_site()
    site.customer.team = team
    db.session.commit()

    response = client.post(
        "/incidents/phone",
        data={
            "submission_key": "call-2",
            "customer_id": site.customer_id,
            "reporter_name": "Front desk",
            "actual": "Alarm on line 3",
            "severity": "medium",
            "callback_due_at": _local(utcnow() - timedelta(hours=1)),
        },
    )

    assert response.status_code == 400
    assert "The call-back is due in the future." in response.get_data(as_text=True)
    assert _count(Incident) == _count(FollowUp) == 0


def _signed_in_clients(app, count: int) -> list:
    from fieldsvc.audit.services import acting
    from fieldsvc.auth.models import Team
    from fieldsvc.auth.services import create_user
    from fieldsvc.customers.models import Customer, Site

    with app.app_context():
        with acting(None):
            team = Team(name="Field team")
            site = Site(
                customer=Customer(name="Northwind Pharma", team=team), name="B4", address="x"
            )
            db.session.add(site)
            users = [
                create_user(
                    name=f"Tech {n}",
                    email=f"tech{n}@example.com",
                    role=Role.TECHNICIAN,
                    password=PASSWORD,
                    actor=None,
                )
                for n in range(count)
            ]
            for user in users:
                user.team = team
        db.session.commit()
        site_ids = (site.id, site.customer_id)
        emails = [user.email for user in users]
    clients = []
    for email in emails:
        client = app.test_client()
        assert client.post("/login", data={"email": email, "password": PASSWORD}).status_code == 302
        clients.append(client)
    return clients, site_ids


def _data(site_id, customer_id, key) -> dict:
    return {
        "submission_key": key,
        "customer_id": customer_id,
        "site_id": site_id,
        "reported_via": "on_site",
        "severity": "medium",
        "actual": "Broken",
        "occurred_at": _local(utcnow()),
        "reporter_name": "Dana",
        "cause_category": "unknown",
    }


def test_concurrent_reports_get_distinct_consecutive_references(committed_app):
    clients, (site_id, customer_id) = _signed_in_clients(committed_app, 6)

    with committed_app.app_context():
        forms = [_data(site_id, customer_id, f"k{n}") for n in range(len(clients))]

    responses = run_together(
        [
            lambda c=c, f=f: c.post("/incidents/new", data=f)
            for c, f in zip(clients, forms, strict=True)
        ]
    )

    assert [r.status_code for r in responses] == [302] * 6
    assert all("/incidents/" in r.location for r in responses)
    with committed_app.app_context():
        references = sorted(db.session.scalars(select(Incident.reference)))
        # The dashboard's counts of the team's month lost none of them.
        counted = db.session.scalar(select(func.sum(TeamMonthCount.counted)))
        problems = months.problems(db.session.connection(), clock.company_zone())
    year = utcnow().year
    assert references == [f"INC-{year}-{n:05d}" for n in range(1, 7)]
    assert (counted, problems) == (6, [])


def test_a_double_tap_racing_itself_makes_one_incident(committed_app):
    clients, (site_id, customer_id) = _signed_in_clients(committed_app, 1)
    client = clients[0]
    with committed_app.app_context():
        form = _data(site_id, customer_id, "same")

    responses = run_together([lambda: client.post("/incidents/new", data=form)] * 2)

    assert [r.status_code for r in responses] == [302, 302]
    assert responses[0].location == responses[1].location
    with committed_app.app_context():
        assert _count(Incident) == 1


def test_a_rejected_photo_keeps_the_typed_report_and_saves_nothing(
    client, signed_in, make_team, make_site, upload_dir
):
    team = make_team()
    signed_in(Role.TECHNICIAN, team=team)
    site = make_site()
    site.customer.team = team
    db.session.commit()
    data = _form(site, actual="Typed on site, must survive") | {
        "photos": [(io.BytesIO(b"%PDF-1.7 not a photo"), "rig.jpg")]
    }

    response = client.post("/incidents/new", data=data, content_type="multipart/form-data")

    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "rig.jpg is not a photo" in page
    assert "Choose the photos again." in page
    assert "Typed on site, must survive" in page
    assert _count(Incident) == 0
    assert not upload_dir.exists() or not any(upload_dir.rglob("*.*"))
