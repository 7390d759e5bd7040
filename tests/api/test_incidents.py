"""Incidents through the API: the team's incidents only, the list's filters and keyset
paging, a report retried with its idempotency key, the timeline, work log,
communications and follow-ups."""

from datetime import timedelta

from sqlalchemy import func, select

from fieldsvc.auth.models import Role
from fieldsvc.database import utcnow
from fieldsvc.extensions import db
from fieldsvc.incidents.models import Incident, Severity


def test_the_list_pages_newest_first_through_the_teams_incidents_only(
    api_as, make_incident, make_user, make_team, make_site
):
    team = make_team()
    technician = make_user(Role.TECHNICIAN, team=team)
    first, second, third = (make_incident(actor=technician) for _ in range(3))
    make_incident()  # another team's
    db.session.commit()
    api = api_as(technician)

    page_one = api.get("/incidents?limit=2").json
    page_two = api.get(f"/incidents?limit=2&before_id={page_one['next_before_id']}").json

    assert [row["id"] for row in page_one["items"]] == [third.id, second.id]
    assert [row["id"] for row in page_two["items"]] == [first.id]
    assert page_two["next_before_id"] is None
    assert page_one["items"][0]["reference"] == third.reference


def test_the_list_takes_the_pages_filters(api_as, make_incident, make_user, make_team):
    team = make_team()
    technician = make_user(Role.TECHNICIAN, team=team)
    make_incident(actor=technician, severity=Severity.LOW)
    critical = make_incident(actor=technician, severity=Severity.CRITICAL, actual="Rig flooded")
    db.session.commit()
    api = api_as(technician)

    by_severity = api.get("/incidents?severity=critical").json["items"]
    by_text = api.get("/incidents?q=flooded").json["items"]
    unknown = api.get("/incidents?severity=apocalyptic")

    assert [row["id"] for row in by_severity] == [critical.id]
    assert [row["id"] for row in by_text] == [critical.id]
    assert unknown.status_code == 422 and unknown.json["errors"][0]["field"] == "severity"


def test_another_teams_incident_is_404_for_reading_and_writing(api_as, make_incident, make_user):
    theirs = make_incident()
    db.session.commit()
    api = api_as(make_user(Role.SUPERVISOR, team=None))

    read = api.get(f"/incidents/{theirs.id}")
    written = api.post(
        f"/incidents/{theirs.id}/work-log",
        json={"started_at": utcnow().isoformat(), "minutes": 30, "note": "Looked at it"},
    )

    assert read.status_code == 404 and written.status_code == 404
    assert read.mimetype == "application/problem+json"
    assert theirs.work_log == []


def test_a_report_retried_with_its_idempotency_key_makes_one_incident(
    api_as, make_user, make_team, make_site
):
    team = make_team()
    technician = make_user(Role.TECHNICIAN, team=team)
    site = make_site(customer=make_site().customer)
    site.customer.team = team
    db.session.commit()
    api = api_as(technician)
    body = {
        "customer_id": site.customer_id,
        "site_id": site.id,
        "reported_via": "phone",
        "severity": "high",
        "occurred_at": (utcnow() - timedelta(hours=2)).isoformat(),
        "actual": "Two transmitters over-pressured",
        "reporter_name": "Dana Whitfield",
    }
    headers = {"Idempotency-Key": "erp-call-4711"}

    first = api.post("/incidents", json=body, headers=headers)
    retry = api.post("/incidents", json=body, headers=headers)

    assert first.status_code == 201 and retry.status_code == 200
    assert first.json["reference"] == retry.json["reference"]
    assert db.session.scalar(select(func.count()).select_from(Incident)) == 1
    timeline = api.get(f"/incidents/{first.json['id']}").json["timeline"]
    assert timeline[0]["actor"] == technician.name
    assert "API token" in timeline[0]["reason"]


def test_a_report_for_a_customer_of_another_team_is_refused_on_its_field(
    api_as, make_user, make_site
):
    site = make_site()
    db.session.commit()
    api = api_as(make_user(Role.TECHNICIAN))

    response = api.post(
        "/incidents",
        json={
            "customer_id": site.customer_id,
            "reported_via": "phone",
            "severity": "high",
            "occurred_at": utcnow().isoformat(),
            "actual": "Broken",
            "reporter_name": "Dana",
        },
    )

    assert response.status_code == 400
    assert response.json["errors"][0]["field"] == "customer_id"


def test_work_log_communications_and_follow_ups_are_written_and_read(
    api_as, make_incident, make_user, make_team
):
    team = make_team()
    technician = make_user(Role.TECHNICIAN, team=team)
    incident = make_incident(actor=technician)
    db.session.commit()
    api = api_as(technician)
    now = utcnow()
    base = f"/incidents/{incident.id}"

    logged = api.post(
        f"{base}/work-log",
        json={"started_at": (now - timedelta(hours=1)).isoformat(), "minutes": 45, "note": "Swap"},
    )
    too_long = api.post(
        f"{base}/work-log", json={"started_at": now.isoformat(), "minutes": 2000, "note": "x"}
    )
    called = api.post(
        f"{base}/communications",
        json={"channel": "phone", "direction": "outbound", "summary": "Told Dana the plan"},
    )
    promised = api.post(
        f"{base}/follow-ups",
        json={"due_at": (now + timedelta(days=1)).isoformat(), "promise": "Confirm delivery"},
    )
    kept = api.post(
        f"{base}/follow-ups/{promised.json['id']}/close",
        json={"outcome": "done", "note": "Parts arrived"},
    )

    assert (logged.status_code, called.status_code, promised.status_code) == (201, 201, 201)
    assert too_long.status_code == 400 and too_long.json["errors"][0]["field"] == "minutes"
    assert [entry["minutes"] for entry in api.get(f"{base}/work-log").json] == [45]
    assert api.get(f"{base}/communications").json[0]["summary"] == "Told Dana the plan"
    assert promised.json["owner_name"] == technician.name
    assert kept.status_code == 200 and kept.json["closed"]["outcome"] == "done"
    assert api.get(f"{base}/follow-ups").json[0]["closed_at"] is not None
