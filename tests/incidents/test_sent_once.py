"""Every action a tablet may queue offline is recorded once, however often it is sent:
the same idempotency key from the same person gives back what the first one recorded,
with one audit event; the same key from someone else is their own action. Sent as a
tablet's outbox sends it (asking for JSON), an action answers accepted or refused with
the message its user reads."""

import io
import re
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import func, select

from fieldsvc.audit.models import AuditEvent
from fieldsvc.auth.models import Role
from fieldsvc.clock import to_local
from fieldsvc.customers.models import Customer
from fieldsvc.database import utcnow
from fieldsvc.errors import DomainError
from fieldsvc.extensions import db
from fieldsvc.incidents import services
from fieldsvc.incidents.models import (
    Attachment,
    Channel,
    Communication,
    Direction,
    FollowUp,
    FollowUpOutcome,
    WorkLogEntry,
)
from fieldsvc.incidents.photos import process_photo

KEY = "0b7c2f9e-5d1a-4c6e-9f00-3a1b2c3d4e5f"
JSON = {"Accept": "application/json"}


def _jpeg(colour: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, "JPEG")
    return out.getvalue()


def _photo(colour: str):
    return process_photo(
        _jpeg(colour), f"{colour}.jpg", max_bytes=10_000_000, max_pixels=10_000_000
    )


def _created(model) -> int:
    """How many times the trail says a record of this kind was created."""
    return db.session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.object_type == model.__name__, AuditEvent.action == "create")
    )


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def team(make_team):
    return make_team(name="North crew")


@pytest.fixture
def technician(make_user, team):
    return make_user(Role.TECHNICIAN, team=team, name="Priya Natarajan")


@pytest.fixture
def colleague(make_user, team):
    return make_user(Role.TECHNICIAN, team=team, name="Tomás Ferreira")


@pytest.fixture
def incident(make_incident, make_site, team, technician):
    site = make_site(customer=Customer(name="Northwind Pharma", team=team))
    return make_incident(actor=technician, site=site)


def _log(incident, actor, key):
    return services.log_work(
        incident,
        actor=actor,
        started_at=utcnow() - timedelta(hours=1),
        minutes=45,
        note="Replaced two transmitters",
        submission_key=key,
    )


def _call(incident, actor, key):
    return services.record_communication(
        incident,
        actor=actor,
        channel=Channel.PHONE,
        direction=Direction.OUTBOUND,
        summary="Told the plant manager the parts arrive on Thursday",
        submission_key=key,
    )


def _promise(incident, actor, key):
    return services.promise_follow_up(
        incident,
        actor=actor,
        owner_id=actor.id,
        due_at=utcnow() + timedelta(days=1),
        promise="Call back with the delivery date",
        submission_key=key,
    )


def _photos(incident, actor, key):
    return services.attach_photos(
        incident, [_photo("orange"), _photo("teal")], actor=actor, submission_key=key
    )


ACTIONS = {
    "log work": (_log, WorkLogEntry),
    "record a communication": (_call, Communication),
    "promise a follow-up": (_promise, FollowUp),
}


@pytest.mark.parametrize("action", ACTIONS)
def test_the_same_key_twice_records_one_action_with_one_audit_event(action, incident, technician):
    act, model = ACTIONS[action]
    before, events_before = _count(model), _created(model)

    first = act(incident, technician, KEY)
    again = act(incident, technician, KEY)

    assert again.id == first.id
    assert _count(model) == before + 1
    assert _created(model) == events_before + 1


@pytest.mark.parametrize("action", ACTIONS)
def test_the_same_key_from_another_person_is_their_own_action(
    action, incident, technician, colleague
):
    act, model = ACTIONS[action]
    before = _count(model)

    mine = act(incident, technician, KEY)
    theirs = act(incident, colleague, KEY)

    assert theirs.id != mine.id
    assert _count(model) == before + 2


@pytest.mark.parametrize("action", ACTIONS)
def test_without_a_key_every_submission_is_recorded(action, incident, technician):
    act, model = ACTIONS[action]
    before = _count(model)

    act(incident, technician, None)
    act(incident, technician, None)

    assert _count(model) == before + 2


def test_photos_sent_again_with_their_key_are_stored_once(incident, technician, colleague):
    first = _photos(incident, technician, KEY)
    again = _photos(incident, technician, KEY)
    theirs = _photos(incident, colleague, KEY)

    assert [photo.id for photo in again] == [photo.id for photo in first]
    assert len(first) == 2 and not {p.id for p in theirs} & {p.id for p in first}
    assert _count(Attachment) == 4
    assert _created(Attachment) == 4


def test_an_outcome_sent_again_changes_nothing_and_gives_back_its_next_follow_up(
    incident, technician
):
    follow_up = _promise(incident, technician, None)
    outcome = {
        "actor": technician,
        "outcome": FollowUpOutcome.WORKING,
        "note": "Parts are on their way",
        "next_due_at": utcnow() + timedelta(days=2),
        "next_promise": "Confirm the delivery",
        "submission_key": KEY,
    }
    events = _created(FollowUp)

    next_one = services.close_follow_up(follow_up, **outcome)
    again = services.close_follow_up(follow_up, **outcome)

    assert again is not None and again.id == next_one.id
    assert follow_up.closed_by == technician and follow_up.outcome is FollowUpOutcome.WORKING
    assert _count(FollowUp) == 2
    assert _created(FollowUp) == events + 1


def test_an_outcome_someone_else_recorded_first_is_refused_naming_them(
    incident, technician, colleague
):
    follow_up = _promise(incident, technician, None)
    services.close_follow_up(
        follow_up, actor=colleague, outcome=FollowUpOutcome.DONE, note="Called", submission_key=KEY
    )

    with pytest.raises(DomainError, match="already closed by Tomás Ferreira"):
        services.close_follow_up(
            follow_up,
            actor=technician,
            outcome=FollowUpOutcome.DONE,
            note="Called too",
            submission_key=KEY,
        )
    assert follow_up.outcome_note == "Called"


# --- as the outbox sends it ------------------------------------------------------------


def _work_form(key: str, minutes: str = "30") -> dict:
    started = to_local(utcnow() - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    return {
        "work-submission_key": key,
        "work-started_at": started,
        "work-minutes": minutes,
        "work-note": "Calibrated the spare",
    }


def test_an_outbox_replay_is_accepted_once_and_told_where_the_record_is(
    client, signed_in, team, make_incident, make_site
):
    user = signed_in(Role.TECHNICIAN, team=team)
    incident = make_incident(actor=user, site=make_site(customer=Customer(name="Acme", team=team)))
    db.session.commit()
    url = f"/incidents/{incident.id}/work"

    first = client.post(url, data=_work_form(KEY), headers=JSON)
    again = client.post(url, data=_work_form(KEY), headers=JSON)

    assert first.status_code == again.status_code == 200
    assert first.json == {
        "ok": True,
        "message": "30 minutes logged.",
        "url": f"/incidents/{incident.id}#work",
    }
    assert [entry.minutes for entry in incident.work_log] == [30]


def test_an_outbox_replay_the_server_refuses_is_told_why_in_words(
    client, signed_in, team, make_incident, make_site
):
    user = signed_in(Role.TECHNICIAN, team=team)
    incident = make_incident(actor=user, site=make_site(customer=Customer(name="Acme", team=team)))
    db.session.commit()

    response = client.post(
        f"/incidents/{incident.id}/work", data=_work_form(KEY, minutes="2000"), headers=JSON
    )

    assert response.status_code == 400
    assert response.json["ok"] is False
    assert response.json["message"].startswith("Minutes:")
    assert incident.work_log == []


def test_an_outbox_replay_for_an_incident_moved_to_another_team_is_refused(
    client, signed_in, team, make_team, make_incident, make_site
):
    signed_in(Role.TECHNICIAN, team=team)
    elsewhere = make_site(customer=Customer(name="Moved away", team=make_team(name="South")))
    incident = make_incident(site=elsewhere)
    db.session.commit()

    response = client.post(f"/incidents/{incident.id}/work", data=_work_form(KEY), headers=JSON)

    assert response.status_code == 404
    assert response.json == {
        "ok": False,
        "message": "No such incident, or it belongs to another team.",
        "signed_out": False,
    }
    assert incident.work_log == []


def test_a_signed_out_outbox_is_asked_to_sign_in_not_redirected(client, make_incident):
    incident = make_incident()
    db.session.commit()

    response = client.post(f"/incidents/{incident.id}/work", data=_work_form(KEY), headers=JSON)
    token = client.get("/outbox/token", headers=JSON)

    assert response.status_code == token.status_code == 401
    assert response.json["signed_out"] is True
    assert response.json["message"] == "Sign in to send this."


def test_a_replay_without_a_csrf_token_is_refused(client, signed_in, team, make_incident):
    signed_in(Role.TECHNICIAN, team=team)
    incident = make_incident()
    db.session.commit()

    response = client.post(
        f"/incidents/{incident.id}/work", data=_work_form(KEY), headers=JSON, csrf=False
    )

    assert response.status_code == 400
    assert response.json["ok"] is False


def test_the_outbox_gets_a_fresh_csrf_token_that_lets_a_replay_through(
    client, signed_in, team, make_incident, make_site
):
    user = signed_in(Role.TECHNICIAN, team=team)
    incident = make_incident(actor=user, site=make_site(customer=Customer(name="Acme", team=team)))
    db.session.commit()

    answer = client.get("/outbox/token", headers=JSON)
    response = client.post(
        f"/incidents/{incident.id}/work",
        data=_work_form(KEY),
        headers={**JSON, "X-CSRFToken": answer.json["csrf_token"]},
        csrf=False,
    )

    assert answer.json["user_id"] == user.id
    assert answer.headers["Cache-Control"] == "no-store"
    assert response.status_code == 200 and response.json["ok"] is True


def test_the_incident_page_gives_each_form_a_fresh_key(
    client, signed_in, team, make_incident, make_site
):
    user = signed_in(Role.TECHNICIAN, team=team)
    incident = make_incident(actor=user, site=make_site(customer=Customer(name="Acme", team=team)))
    services.promise_follow_up(
        incident,
        actor=user,
        owner_id=user.id,
        due_at=utcnow() + timedelta(days=1),
        promise="Call back",
    )
    db.session.commit()

    page = client.get(f"/incidents/{incident.id}").get_data(as_text=True)

    keys = re.findall(r'name="(?:[\w-]+-)?submission_key" type="hidden" value="(\w+)"', page)
    assert len(keys) == 5 and len(set(keys)) == 5
