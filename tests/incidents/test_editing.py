"""Correcting a report: the incident changes, and its timeline keeps before and after."""

import re

from sqlalchemy import select

from fieldsvc.audit.models import AuditEvent
from fieldsvc.auth.models import Role
from fieldsvc.clock import to_local
from fieldsvc.extensions import db
from fieldsvc.incidents.models import IncidentEquipment, Severity


def _edit_form(incident, **changes) -> dict:
    return {
        "customer_id": incident.customer_id,
        "site_id": incident.site_id,
        "equipment_ids": [link.equipment_id for link in incident.equipment_links],
        "reported_via": incident.reported_via.value,
        "severity": incident.severity.value,
        "expected": incident.expected,
        "actual": incident.actual,
        "occurred_at": to_local(incident.occurred_at).strftime("%Y-%m-%dT%H:%M"),
        "reporter_name": incident.reporter_name,
        "cause_category": incident.cause_category.value,
    } | changes


def test_editing_shows_the_values_before_and_after_with_the_reason(
    client, signed_in, make_team, make_site, make_equipment, make_incident
):
    team = make_team()
    technician = signed_in(Role.TECHNICIAN, team=team)
    site = make_site()
    site.customer.team = team
    first, second = make_equipment(site=site, tag="PT-107"), make_equipment(site=site, tag="PT-117")
    incident = make_incident(site=site, actor=technician, equipment_ids=[first.id])
    db.session.commit()

    form_page = client.get(f"/incidents/{incident.id}/edit").get_data(as_text=True)
    assert "Diaphragm over-pressured on the test rig" in form_page
    response = client.post(
        f"/incidents/{incident.id}/edit",
        data=_edit_form(
            incident,
            severity="critical",
            equipment_ids=[second.id],
            reason="Second unit found damaged too; first was fine",
        ),
    )

    assert response.status_code == 302
    db.session.refresh(incident)
    assert incident.severity is Severity.CRITICAL
    assert [item.tag for item in incident.equipment] == ["PT-117"]
    page = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    # The timeline as a person reads it: the text, not the markup.
    timeline = " ".join(re.sub(r"<[^>]+>", " ", page[page.index("Timeline") :]).split())
    assert "Changed the incident" in timeline
    assert "Why: Second unit found damaged too; first was fine" in timeline
    assert "Field Before After Severity Medium Critical" in timeline
    assert "Changed the equipment" in timeline
    assert "Field Before After Equipment PT-107 PT-117" in timeline
    deleted = db.session.scalar(
        select(AuditEvent).where(
            AuditEvent.object_type == IncidentEquipment.__name__, AuditEvent.action == "delete"
        )
    )
    assert deleted.actor_id == technician.id


def test_an_edit_that_breaks_a_rule_changes_nothing(
    client, signed_in, make_team, make_site, make_equipment, make_incident
):
    team = make_team()
    technician = signed_in(Role.TECHNICIAN, team=team)
    site, elsewhere = make_site(), make_site()
    site.customer.team = elsewhere.customer.team = team
    foreign = make_equipment(site=elsewhere, tag="PT-999")
    incident = make_incident(site=site, actor=technician)
    db.session.commit()

    response = client.post(
        f"/incidents/{incident.id}/edit",
        data=_edit_form(incident, equipment_ids=[foreign.id], actual="Changed text"),
    )

    assert response.status_code == 400
    assert "PT-999 is elsewhere" in response.get_data(as_text=True)
    db.session.refresh(incident)
    assert incident.actual == "Diaphragm over-pressured on the test rig"
    assert incident.equipment_links == []


def test_another_team_cannot_edit(client, signed_in, make_team, make_incident):
    signed_in(Role.TECHNICIAN, team=make_team())
    incident = make_incident()
    db.session.commit()
    assert client.get(f"/incidents/{incident.id}/edit").status_code == 404
    assert (
        client.post(f"/incidents/{incident.id}/edit", data=_edit_form(incident)).status_code == 404
    )
