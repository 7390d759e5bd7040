"""Status changes: the incident page's form, the resolution note, refused transitions,
the steps only the customer's answer (or sending) takes, and the service against every
pair of statuses."""

import html
import re

import pytest
from sqlalchemy import select

from fieldsvc.audit.models import AuditEvent
from fieldsvc.audit.services import acting
from fieldsvc.auth.models import Role
from fieldsvc.errors import FieldError, InvalidTransition
from fieldsvc.extensions import db
from fieldsvc.incidents import services
from fieldsvc.incidents.models import (
    ALLOWED_TRANSITIONS,
    OFFER_TRANSITIONS,
    STAFF_TRANSITIONS,
    IncidentStatus,
)

S = IncidentStatus
NOTE = "Replaced the diaphragm and recalibrated PT-107"


def _text(response) -> str:
    """The page as a person reads it: no tags, entities decoded, spaces collapsed."""
    page = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return " ".join(html.unescape(page).split())


def _put_in(incident, status: IncidentStatus) -> None:
    """Set a status directly, as if the earlier transitions had happened."""
    with acting(None, reason="test data"):
        incident.status = status
        db.session.flush()


def _status_updates(incident) -> list[AuditEvent]:
    return db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.object_type == "Incident",
            AuditEvent.object_id == incident.id,
            AuditEvent.action == "update",
        )
    ).all()


@pytest.fixture
def technician(signed_in, make_team):
    return signed_in(Role.TECHNICIAN, team=make_team())


@pytest.fixture
def incident(make_incident, technician):
    incident = make_incident(actor=technician)
    db.session.commit()
    return incident


# --- through the incident page -------------------------------------------------------------


@pytest.mark.parametrize("note", ["", "   "], ids=["empty", "blank"])
def test_resolving_without_a_resolution_note_is_refused(client, incident, note):
    response = client.post(
        f"/incidents/{incident.id}/status", data={"status-status": "resolved", "status-note": note}
    )

    assert response.status_code == 400
    assert "Say how it was resolved: a resolution note is needed." in _text(response)
    assert incident.status is S.OPEN
    assert incident.resolution_note is None
    assert _status_updates(incident) == []


def test_resolving_with_a_note_shows_the_note_and_records_it_as_the_reason(
    client, incident, technician
):
    response = client.post(
        f"/incidents/{incident.id}/status", data={"status-status": "resolved", "status-note": NOTE}
    )

    assert response.status_code == 302
    assert incident.status is S.RESOLVED
    page = _text(client.get(f"/incidents/{incident.id}"))
    assert f"{incident.reference} is now resolved." in page
    assert f"Resolution {NOTE}" in page
    assert f"Changed the status to resolved by {technician.name}" in page
    assert f"Why: {NOTE}" in page
    (event,) = _status_updates(incident)
    assert event.changes["status"] == ["open", "resolved"]
    assert event.changes["resolution_note"] == [None, NOTE]
    assert event.reason == NOTE
    assert event.actor_id == technician.id


def test_a_change_the_table_does_not_allow_is_refused_with_409(client, incident):
    response = client.post(f"/incidents/{incident.id}/status", data={"status-status": "closed"})

    assert response.status_code == 409
    assert f"{incident.reference} is open; it cannot become closed." in _text(response)
    assert incident.status is S.OPEN
    assert _status_updates(incident) == []


def test_an_unknown_status_is_refused(client, incident):
    response = client.post(f"/incidents/{incident.id}/status", data={"status-status": "bogus"})

    assert response.status_code == 400
    assert "Not a valid choice." in _text(response)
    assert incident.status is S.OPEN
    assert _status_updates(incident) == []


def _status_options(client, incident) -> list[tuple[str, str, bool]]:
    """The status select's options as (value, text, selected)."""
    page = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    select_html = re.search(r'<select[^>]*name="status-status"[^>]*>(.*?)</select>', page, re.S)[1]
    return [
        (value, html.unescape(text), " selected" in attributes)
        for attributes, value, text in re.findall(
            r'<option([^>]*value="([^"]*)"[^>]*)>([^<]*)</option>', select_html
        )
    ]


def test_the_status_form_offers_only_what_staff_may_do_with_nothing_chosen(client, incident):
    options = _status_options(client, incident)

    assert [value for value, _text, _selected in options] == ["", "resolved", "cancelled"]
    assert options[0][1] == "Choose the new status…"
    assert not any(selected for _value, _text, selected in options)


@pytest.mark.parametrize(
    ("status", "offered"),
    [
        (S.REMEDIATION_PROPOSED, ["", "cancelled"]),
        (S.REMEDIATION_ACCEPTED, ["", "resolved", "cancelled"]),
        (S.RESOLVED, ["", "open", "closed"]),
    ],
    ids=lambda value: value.value if isinstance(value, IncidentStatus) else None,
)
def test_an_offer_out_or_accepted_leaves_staff_only_their_own_steps(
    client, incident, status, offered
):
    _put_in(incident, status)
    db.session.commit()

    assert [value for value, _text, _selected in _status_options(client, incident)] == offered


def test_pressing_change_status_without_choosing_changes_nothing(client, incident):
    response = client.post(f"/incidents/{incident.id}/status", data={"status-note": "x"})
    blank = client.post(
        f"/incidents/{incident.id}/status", data={"status-status": "", "status-note": "x"}
    )

    for refused in (response, blank):
        assert refused.status_code == 400
        assert "Choose the new status from the list." in _text(refused)
    assert incident.status is S.OPEN
    assert _status_updates(incident) == []


@pytest.mark.parametrize(
    ("before", "after", "message"),
    [
        (S.OPEN, S.REMEDIATION_PROPOSED, "Remediation proposed is set by sending an approved"),
        (S.REMEDIATION_PROPOSED, S.REMEDIATION_ACCEPTED, "Only the customer's answer makes"),
        (S.REMEDIATION_PROPOSED, S.OPEN, "goes back to open only when the customer declines"),
    ],
    ids=["proposed", "accepted", "reopened-under-an-offer"],
)
def test_a_crafted_post_for_the_customers_decision_is_refused(
    client, incident, before, after, message
):
    _put_in(incident, before)
    db.session.commit()
    events_before = len(_status_updates(incident))

    response = client.post(
        f"/incidents/{incident.id}/status",
        data={"status-status": after.value, "status-note": "Dana said yes"},
    )

    assert response.status_code == 409
    assert message in _text(response)
    db.session.expire_all()
    assert incident.status is before
    assert len(_status_updates(incident)) == events_before


@pytest.mark.parametrize(
    "path", [[S.RESOLVED, S.CLOSED], [S.CANCELLED]], ids=["closed", "cancelled"]
)
def test_a_closed_or_cancelled_incident_offers_no_status_form(client, incident, technician, path):
    for status in path:
        services.change_status(incident, status, actor=technician, note=NOTE)
    db.session.commit()

    response = client.get(f"/incidents/{incident.id}")

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'action="/incidents/{incident.id}/status"' not in page
    assert "Change status" not in page


def test_a_closed_incident_refuses_a_posted_status_change(client, incident, technician):
    services.change_status(incident, S.RESOLVED, actor=technician, note=NOTE)
    services.change_status(incident, S.CLOSED, actor=technician)
    db.session.commit()

    response = client.post(f"/incidents/{incident.id}/status", data={"status-status": "open"})

    assert response.status_code == 409
    assert "is closed; it cannot become open." in _text(response)
    assert incident.status is S.CLOSED


def test_resolving_records_when_and_reopening_forgets_it(incident, technician):
    services.change_status(incident, S.RESOLVED, actor=technician, note=NOTE)
    resolved_at = incident.resolved_at

    services.change_status(incident, S.OPEN, actor=technician, note="It failed again.")

    assert resolved_at is not None
    assert incident.resolved_at is None  # the response-time report no longer counts it


# --- the service, against the whole table --------------------------------------------------

PAIRS = [(before, after) for before in S for after in S]
ALLOWED = [(b, a) for b, a in PAIRS if a in STAFF_TRANSITIONS[b]]
REFUSED = [(b, a) for b, a in PAIRS if a not in STAFF_TRANSITIONS[b]]


def _ids(pair) -> str:
    return f"{pair[0].value}->{pair[1].value}"


def test_the_table_names_every_status():
    assert set(ALLOWED_TRANSITIONS) == set(S)
    assert set(STAFF_TRANSITIONS) == set(S)


# Stated without reading the tables back: no status that says what the customer decided
# is ever a step staff may take by hand.
@pytest.mark.parametrize("before", list(S))
def test_staff_never_set_proposed_or_accepted_by_hand(before):
    assert S.REMEDIATION_PROPOSED not in STAFF_TRANSITIONS[before]
    assert S.REMEDIATION_ACCEPTED not in STAFF_TRANSITIONS[before]


@pytest.mark.parametrize(
    ("before", "after"),
    [(b, a) for b, targets in OFFER_TRANSITIONS.items() for a in sorted(targets)],
    ids=lambda status: status.value,
)
def test_the_service_refuses_the_customers_decision_to_anyone(
    make_user, make_incident, before, after
):
    incident = make_incident()
    _put_in(incident, before)
    admin = make_user(Role.ADMIN)

    with pytest.raises(InvalidTransition):
        services.change_status(incident, after, actor=admin, note=NOTE)

    assert incident.status is before


@pytest.mark.parametrize(("before", "after"), ALLOWED, ids=map(_ids, ALLOWED))
def test_every_allowed_transition_changes_the_status(make_incident, before, after):
    incident = make_incident()
    _put_in(incident, before)

    services.change_status(incident, after, actor=incident.created_by, note=NOTE)

    assert incident.status is after
    (event,) = [e for e in _status_updates(incident) if e.reason == NOTE]
    assert event.changes["status"] == [before.value, after.value]
    assert event.actor_id == incident.created_by_id


@pytest.mark.parametrize(("before", "after"), REFUSED, ids=map(_ids, REFUSED))
def test_every_other_transition_raises_invalid_transition(make_incident, before, after):
    incident = make_incident()
    _put_in(incident, before)
    events_before = len(_status_updates(incident))

    with pytest.raises(InvalidTransition):
        services.change_status(incident, after, actor=incident.created_by, note=NOTE)

    assert incident.status is before
    assert len(_status_updates(incident)) == events_before


@pytest.mark.parametrize("before", [S.OPEN, S.REMEDIATION_ACCEPTED])
def test_resolving_from_any_state_needs_a_resolution_note(make_incident, before):
    incident = make_incident()
    _put_in(incident, before)

    with pytest.raises(FieldError, match="resolution note"):
        services.change_status(incident, S.RESOLVED, actor=incident.created_by, note=" ")

    assert incident.status is before
    assert incident.resolution_note is None


# The lifecycle as the product states it (docs/architecture.md), without reading the table back.
@pytest.mark.parametrize("before", [S.CLOSED, S.CANCELLED])
@pytest.mark.parametrize("after", list(S))
def test_closed_and_cancelled_incidents_are_final(make_incident, before, after):
    incident = make_incident()
    _put_in(incident, before)

    with pytest.raises(InvalidTransition):
        services.change_status(incident, after, actor=incident.created_by, note=NOTE)


@pytest.mark.parametrize("before", [s for s in S if s is not S.RESOLVED])
def test_only_a_resolved_incident_can_be_closed(make_incident, before):
    incident = make_incident()
    _put_in(incident, before)

    with pytest.raises(InvalidTransition):
        services.change_status(incident, S.CLOSED, actor=incident.created_by, note=NOTE)
