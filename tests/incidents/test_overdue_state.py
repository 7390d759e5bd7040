"""The incident knows when its earliest open promise is due, whoever changes a
follow-up, so the list's overdue filter and badge follow every promise kept or made."""

from datetime import timedelta

from fieldsvc.audit.services import acting
from fieldsvc.auth.models import Role
from fieldsvc.database import utcnow
from fieldsvc.extensions import db
from fieldsvc.incidents.models import FollowUp, FollowUpOutcome
from fieldsvc.incidents.services import close_follow_up


def _overdue_list(client) -> str:
    response = client.get("/incidents/?overdue=1")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_an_incident_is_overdue_while_a_promise_is_late_and_not_once_it_is_kept(
    client, signed_in, make_team, make_site, make_incident
):
    team = make_team()
    me = signed_in(Role.TECHNICIAN, team=team)
    site = make_site()
    site.customer.team = team
    incident = make_incident(site=site, actor=me)
    now = utcnow()
    with acting(me):  # written directly, as another feature might: the hook still follows
        late = FollowUp(
            incident=incident, owner=me, created_by=me, promise="Call back",
            due_at=now - timedelta(hours=2),
        )  # fmt: skip
        later = FollowUp(
            incident=incident, owner=me, created_by=me, promise="Send the report",
            due_at=now + timedelta(days=2),
        )  # fmt: skip
        db.session.add_all([late, later])
        db.session.commit()

    assert incident.next_follow_up_due_at == late.due_at
    assert incident.overdue_since(now) == late.due_at
    assert incident.reference in _overdue_list(client)

    close_follow_up(late, actor=me, outcome=FollowUpOutcome.DONE, note="Called, all fine")
    db.session.commit()

    assert incident.next_follow_up_due_at == later.due_at
    assert incident.overdue_since(now) is None
    assert incident.reference not in _overdue_list(client)

    db.session.delete(later)
    db.session.commit()
    db.session.refresh(incident)
    assert incident.next_follow_up_due_at is None
