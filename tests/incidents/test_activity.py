"""Working on an incident through its page: the work log, communications, follow-ups
promised to the customer and their outcomes, overdue follow-ups in the page, the list
and My day, and that every change reaches the timeline and the audit trail."""

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from fieldsvc.audit.models import AuditEvent
from fieldsvc.audit.services import acting
from fieldsvc.auth.models import Role
from fieldsvc.clock import to_local
from fieldsvc.database import utcnow
from fieldsvc.extensions import db
from fieldsvc.incidents import views
from fieldsvc.incidents.models import (
    Channel,
    Communication,
    Direction,
    FollowUp,
    FollowUpOutcome,
    IncidentStatus,
    WorkLogEntry,
)

NAME = "Priya Natarajan"
TOMORROW = object()  # a time field filled in with tomorrow when the test runs


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _local(value: datetime) -> str:
    return to_local(value).strftime("%Y-%m-%dT%H:%M")


def _text(response) -> str:
    """The page as a person reads it: no tags, entities decoded, spaces collapsed."""
    page = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return " ".join(html.unescape(page).split())


def _section(response, heading_id: str) -> str:
    page = response.get_data(as_text=True)
    return re.search(rf'<section aria-labelledby="{heading_id}">(.*?)</section>', page, re.S)[1]


def _cards(response) -> dict[str, str]:
    """The incident list's cards by incident reference."""
    cards = re.findall(r'<li class="incident-card.*?</li>', response.get_data(as_text=True), re.S)
    return {re.search(r'<span class="code">([^<]+)</span>', card)[1]: card for card in cards}


def _follow_up(incident, owner, *, due_at: datetime, promise: str, closed: bool = False):
    """A follow-up written straight to the database: the service refuses past due times."""
    with acting(None, reason="test data"):
        follow_up = FollowUp(
            incident=incident, owner=owner, created_by=owner, due_at=due_at, promise=promise
        )
        if closed:
            follow_up.closed_at = utcnow()
            follow_up.outcome = FollowUpOutcome.DONE
            follow_up.outcome_note = "Called back"
        db.session.add(follow_up)
        db.session.flush()
    return follow_up


@pytest.fixture
def team(make_team):
    return make_team()


@pytest.fixture
def technician(client, make_user, team):
    user = make_user(Role.TECHNICIAN, team=team, name=NAME)
    db.session.commit()
    client.sign_in(user.email)
    return user


@pytest.fixture
def colleague(make_user, team):
    return make_user(Role.SUPERVISOR, team=team, name="Marco Bellini")


@pytest.fixture
def incident(make_incident, technician):
    incident = make_incident(actor=technician)
    db.session.commit()
    return incident


def _filled(fields: dict) -> dict:
    tomorrow = _local(utcnow() + timedelta(days=1))
    return {name: tomorrow if value is TOMORROW else value for name, value in fields.items()}


def _work(**overrides) -> dict:
    """The work log form's fields, as the incident page names them."""
    values = {
        "started_at": _local(utcnow() - timedelta(hours=3)),
        "minutes": "90",
        "note": "Replaced the diaphragm on PT-107",
    } | overrides
    return {f"work-{name}": value for name, value in values.items()}


# --- the work log ---------------------------------------------------------------------------


def test_logged_work_shows_on_the_incident_page_with_the_total(client, incident, technician):
    first = client.post(f"/incidents/{incident.id}/work", data=_work())
    second = client.post(
        f"/incidents/{incident.id}/work",
        data=_work(minutes="45", note="Recalibrated and leak-tested"),
    )

    assert first.status_code == second.status_code == 302
    page = _text(client.get(f"/incidents/{incident.id}"))
    assert "2 h 15 min in all" in page
    assert "Replaced the diaphragm on PT-107" in page
    assert "Recalibrated and leak-tested" in page
    entries = db.session.scalars(select(WorkLogEntry)).all()
    assert sorted(entry.minutes for entry in entries) == [45, 90]
    assert {entry.user_id for entry in entries} == {technician.id}


def test_work_start_is_typed_and_shown_in_the_company_time_zone(app, client, incident):
    app.config["TIMEZONE"] = "Europe/Berlin"

    client.post(f"/incidents/{incident.id}/work", data=_work(started_at="2025-01-15T08:30"))

    entry = db.session.scalars(select(WorkLogEntry)).one()
    assert entry.started_at == datetime(2025, 1, 15, 7, 30, tzinfo=UTC)
    assert "2025-01-15 08:30 CET" in _text(client.get(f"/incidents/{incident.id}"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"minutes": "0"}, "Minutes must be between 1 and 1440 (one day)."),
        ({"minutes": "2000"}, "Minutes must be between 1 and 1440 (one day)."),
        ({"started_at": TOMORROW}, "Work cannot start in the future."),
        ({"note": ""}, "Say what was done."),
        ({"note": "   "}, "Say what was done."),
    ],
    ids=["zero-minutes", "more-than-a-day", "starts-tomorrow", "empty-note", "blank-note"],
)
def test_bad_work_entries_are_refused_with_the_reason_and_nothing_is_saved(
    client, incident, overrides, message
):
    response = client.post(f"/incidents/{incident.id}/work", data=_work(**_filled(overrides)))

    assert response.status_code == 400
    assert message in _text(response)
    assert _count(WorkLogEntry) == 0
    assert not db.session.scalars(
        select(AuditEvent).where(AuditEvent.object_type == "WorkLogEntry")
    ).all()
    assert "0 h 0 min in all" in _text(client.get(f"/incidents/{incident.id}"))


# --- communications -------------------------------------------------------------------------


def test_a_recorded_communication_shows_on_the_incident_page(client, incident, technician):
    response = client.post(
        f"/incidents/{incident.id}/communications",
        data={
            "channel": "phone",
            "direction": "outbound",
            "at": "",
            "summary": "Told Dana the spare diaphragm ships on Friday",
        },
    )

    assert response.status_code == 302
    communication = db.session.scalars(select(Communication)).one()
    assert (communication.channel, communication.direction) == (Channel.PHONE, Direction.OUTBOUND)
    assert communication.user_id == technician.id
    page = _text(client.get(f"/incidents/{incident.id}"))
    assert f"Phone, to the customer — {NAME}" in page
    assert "Told Dana the spare diaphragm ships on Friday" in page


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"summary": "  "}, "Summarise what was said."),
        ({"at": TOMORROW}, "A communication cannot be in the future."),
    ],
    ids=["blank-summary", "tomorrow"],
)
def test_a_bad_communication_is_refused_and_nothing_is_saved(client, incident, overrides, message):
    data = {"channel": "email", "direction": "inbound", "summary": "Asked for a date"}

    response = client.post(
        f"/incidents/{incident.id}/communications", data=data | _filled(overrides)
    )

    assert response.status_code == 400
    assert message in _text(response)
    assert _count(Communication) == 0


# --- follow-ups -----------------------------------------------------------------------------


def test_a_promised_follow_up_shows_with_its_owner_and_due_time(
    client, incident, technician, colleague
):
    due = utcnow().replace(second=0, microsecond=0) + timedelta(days=1)

    response = client.post(
        f"/incidents/{incident.id}/follow-ups",
        data={
            "owner_id": colleague.id,
            "due_at": _local(due),
            "promise": "Call back with a delivery date",
        },
    )

    assert response.status_code == 302
    follow_up = db.session.scalars(select(FollowUp)).one()
    assert follow_up.owner_id == colleague.id
    assert follow_up.created_by_id == technician.id
    assert follow_up.due_at == due
    page = _text(client.get(f"/incidents/{incident.id}"))
    assert "“Call back with a delivery date” — Marco Bellini, due" in page
    assert "overdue" not in page


def test_a_follow_up_due_in_the_past_is_refused(client, incident, technician):
    response = client.post(
        f"/incidents/{incident.id}/follow-ups",
        data={
            "owner_id": technician.id,
            "due_at": _local(utcnow() - timedelta(hours=1)),
            "promise": "Call back with a delivery date",
        },
    )

    assert response.status_code == 400
    assert "A promise is due in the future: choose a later time." in _text(response)
    assert _count(FollowUp) == 0


def test_a_follow_up_cannot_be_owned_by_someone_outside_the_customers_team(
    client, incident, make_user, make_team
):
    outsider = make_user(Role.TECHNICIAN, team=make_team())
    db.session.commit()

    response = client.post(
        f"/incidents/{incident.id}/follow-ups",
        data={
            "owner_id": outsider.id,
            "due_at": _local(utcnow() + timedelta(days=1)),
            "promise": "Call back with a delivery date",
        },
    )

    assert response.status_code == 400
    assert "Choose an active colleague who can see this incident." in _text(response)
    assert _count(FollowUp) == 0


@pytest.fixture
def promised(client, incident, colleague):
    """A follow-up the colleague owes, promised by the signed-in technician."""
    response = client.post(
        f"/incidents/{incident.id}/follow-ups",
        data={
            "owner_id": colleague.id,
            "due_at": _local(utcnow() + timedelta(hours=4)),
            "promise": "Call back with a delivery date",
        },
    )
    assert response.status_code == 302
    return db.session.scalars(select(FollowUp)).one()


def _close(client, follow_up, **fields):
    data = {f"close-{follow_up.id}-{name}": value for name, value in fields.items()}
    return client.post(
        f"/incidents/{follow_up.incident_id}/follow-ups/{follow_up.id}/close", data=data
    )


def test_closing_a_follow_up_as_done_keeps_the_promise(client, incident, promised):
    response = _close(client, promised, outcome="done", note="Told Dana it ships Friday")

    assert response.status_code == 302
    assert promised.outcome is FollowUpOutcome.DONE
    assert promised.outcome_note == "Told Dana it ships Friday"
    assert promised.closed_at is not None
    assert _count(FollowUp) == 1
    page = _text(client.get(f"/incidents/{incident.id}"))
    assert "Done (" in page and "Told Dana it ships Friday" in page
    assert "Record the outcome" not in page


@pytest.mark.parametrize("outcome", ["working", "next_step"])
@pytest.mark.parametrize("next_due", ["", "an hour ago"])
def test_an_update_that_is_not_done_needs_a_later_next_due_time(
    client, promised, outcome, next_due
):
    if next_due:
        next_due = _local(utcnow() - timedelta(hours=1))

    response = _close(client, promised, outcome=outcome, note="Still waiting", next_due_at=next_due)

    assert response.status_code == 400
    assert "When is the next update due? Choose a later time." in _text(response)
    assert promised.closed_at is None
    assert _count(FollowUp) == 1


@pytest.mark.parametrize(
    ("outcome", "next_promise", "expected_promise"),
    [
        (
            "working",
            "Call again once the supplier confirms",
            "Call again once the supplier confirms",
        ),
        ("next_step", "", "Call back with a delivery date"),
    ],
)
def test_an_update_that_is_not_done_becomes_a_new_follow_up_for_the_same_owner(
    client, promised, colleague, technician, outcome, next_promise, expected_promise
):
    next_due = utcnow().replace(second=0, microsecond=0) + timedelta(days=2)

    response = _close(
        client,
        promised,
        outcome=outcome,
        note="Supplier has not confirmed yet",
        next_due_at=_local(next_due),
        next_promise=next_promise,
    )

    assert response.status_code == 302
    assert promised.outcome is FollowUpOutcome(outcome)
    assert promised.closed_at is not None
    following = db.session.scalars(select(FollowUp).where(FollowUp.id != promised.id)).one()
    assert following.owner_id == colleague.id
    assert following.created_by_id == technician.id
    assert following.due_at == next_due
    assert following.promise == expected_promise
    assert following.closed_at is None


# --- overdue follow-ups ---------------------------------------------------------------------


def test_an_overdue_follow_up_is_highlighted_on_the_incident_page(client, incident, technician):
    _follow_up(incident, technician, due_at=utcnow() - timedelta(hours=3), promise="Call Dana back")
    db.session.commit()

    page = _text(client.get(f"/incidents/{incident.id}"))

    assert f"1 follow-up overdue: “Call Dana back” ({NAME}, due" in page


def test_follow_ups_on_time_or_closed_raise_no_overdue_banner(client, incident, technician):
    _follow_up(incident, technician, due_at=utcnow() + timedelta(hours=3), promise="Send a quote")
    _follow_up(
        incident,
        technician,
        due_at=utcnow() - timedelta(days=1),
        promise="Call Dana back",
        closed=True,
    )
    db.session.commit()

    page = _text(client.get(f"/incidents/{incident.id}"))

    assert "overdue" not in page


def test_the_list_marks_incidents_with_an_overdue_follow_up_and_filters_them(
    client, make_incident, technician
):
    late, on_time, kept = (make_incident(actor=technician) for _ in range(3))
    _follow_up(late, technician, due_at=utcnow() - timedelta(hours=2), promise="Call back")
    _follow_up(on_time, technician, due_at=utcnow() + timedelta(hours=2), promise="Call back")
    _follow_up(
        kept, technician, due_at=utcnow() - timedelta(days=1), promise="Call back", closed=True
    )
    db.session.commit()

    cards = _cards(client.get("/incidents/"))
    assert set(cards) == {late.reference, on_time.reference, kept.reference}
    assert "Follow-up overdue" in cards[late.reference]
    assert "Follow-up overdue" not in cards[on_time.reference]
    assert "Follow-up overdue" not in cards[kept.reference]

    assert set(_cards(client.get("/incidents/?overdue=1"))) == {late.reference}


def test_my_day_lists_my_overdue_and_due_today_follow_ups_and_my_open_incidents(
    client, monkeypatch, make_incident, technician, colleague
):
    now = datetime(2031, 5, 14, 10, 0, tzinfo=UTC)  # the company's zone is UTC here
    monkeypatch.setattr(views, "utcnow", lambda: now)
    reported = make_incident(actor=technician)
    owed = make_incident(actor=colleague)
    theirs = make_incident(actor=colleague)
    resolved = make_incident(actor=technician)
    _follow_up(reported, technician, due_at=now - timedelta(hours=2), promise="Call Dana back")
    _follow_up(owed, technician, due_at=now + timedelta(hours=3), promise="Send the certificate")
    _follow_up(reported, technician, due_at=now + timedelta(days=1), promise="Visit on Thursday")
    _follow_up(
        reported, technician, due_at=now - timedelta(days=1), promise="Already kept", closed=True
    )
    _follow_up(theirs, colleague, due_at=now - timedelta(hours=1), promise="Marco will call")
    with acting(None, reason="test data"):
        resolved.status = IncidentStatus.RESOLVED
    db.session.commit()

    response = client.get("/my-day")

    assert response.status_code == 200
    overdue = _section(response, "overdue-title")
    assert "(1)" in overdue and reported.reference in overdue and "Call Dana back" in overdue
    due_today = _section(response, "today-title")
    assert "(1)" in due_today and owed.reference in due_today
    assert "Send the certificate" in due_today
    mine = set(_cards(response))
    assert mine == {reported.reference, owed.reference}
    page = _text(response)
    assert "Visit on Thursday" not in page
    assert "Marco will call" not in page
    assert "Already kept" not in page


def test_my_day_leaves_out_other_peoples_follow_ups(client, make_incident, technician, colleague):
    incident = make_incident(actor=colleague)
    _follow_up(incident, colleague, due_at=utcnow() - timedelta(hours=1), promise="Marco calls")
    db.session.commit()

    page = _text(client.get("/my-day"))

    assert "Marco calls" not in page
    assert incident.reference not in page
    assert "None. Every promise is on time." in page


# --- what was typed, and what was recorded --------------------------------------------------


def test_markup_typed_into_notes_summaries_and_promises_is_shown_as_text(
    client, incident, technician
):
    client.post(f"/incidents/{incident.id}/work", data=_work(note="<script>alert(1)</script>"))
    client.post(
        f"/incidents/{incident.id}/communications",
        data={
            "channel": "phone",
            "direction": "inbound",
            "summary": "<img src=x onerror=alert(2)>",
        },
    )
    client.post(
        f"/incidents/{incident.id}/follow-ups",
        data={
            "owner_id": technician.id,
            "due_at": _local(utcnow() + timedelta(days=1)),
            "promise": "<script>alert(3)</script>",
        },
    )
    assert _count(WorkLogEntry) == _count(Communication) == _count(FollowUp) == 1

    page = client.get(f"/incidents/{incident.id}").get_data(as_text=True)

    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in page


def _work_communication_promise_and_close(client, incident, technician) -> None:
    client.post(f"/incidents/{incident.id}/work", data=_work())
    client.post(
        f"/incidents/{incident.id}/communications",
        data={"channel": "email", "direction": "outbound", "summary": "Sent the test report"},
    )
    client.post(
        f"/incidents/{incident.id}/follow-ups",
        data={
            "owner_id": technician.id,
            "due_at": _local(utcnow() + timedelta(days=1)),
            "promise": "Call back with a delivery date",
        },
    )
    follow_up = db.session.scalars(select(FollowUp)).one()
    response = _close(client, follow_up, outcome="done", note="Told Dana it ships Friday")
    assert response.status_code == 302


def test_every_change_shows_in_the_timeline_with_who_made_it(client, incident, technician):
    _work_communication_promise_and_close(client, incident, technician)

    page = _text(client.get(f"/incidents/{incident.id}"))

    timeline = page[page.index("Timeline") :]
    for change in (
        "Reported INC-",
        "Logged ",
        "E-mail, to the customer: Sent the test report",
        "Promised “Call back with a delivery date” by",
        "Closed the follow-up “Call back with a delivery date”: done — Told Dana it ships Friday",
    ):
        assert re.search(rf"{re.escape(change)}[^·]*? by {NAME} ", timeline), change


def test_every_change_is_in_the_audit_trail_with_its_actor(client, incident, technician):
    _work_communication_promise_and_close(client, incident, technician)

    events = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.object_type.in_(["WorkLogEntry", "Communication", "FollowUp"]))
        .order_by(AuditEvent.seq)
    ).all()

    assert [(e.action, e.object_type) for e in events] == [
        ("create", "WorkLogEntry"),
        ("create", "Communication"),
        ("create", "FollowUp"),
        ("update", "FollowUp"),
    ]
    assert {e.actor_id for e in events} == {technician.id}
    entry = db.session.scalars(select(WorkLogEntry)).one()
    assert events[0].object_id == entry.id
    assert events[0].changes["minutes"] == [None, 90]
    assert events[3].changes["outcome"] == [None, "done"]


def test_a_follow_up_can_be_promised_for_the_active_colleagues_who_see_the_incident_only(
    client, incident, technician, colleague, make_user, make_team, team
):
    leaver = make_user(Role.TECHNICIAN, team=team, name="Lee Leaver")
    leaver.active = False
    make_user(Role.TECHNICIAN, team=make_team(), name="Olga Outsider")
    make_user(Role.ADMIN, name="Ada Admin")
    db.session.commit()

    page = client.get(f"/incidents/{incident.id}").get_data(as_text=True)

    owners = re.search(r'<select[^>]* id="owner_id"[^>]*>(.*?)</select>', page, re.S)[1]
    offered = [html.unescape(name) for name in re.findall(r">([^<]+)</option>", owners)]
    assert sorted(offered) == sorted(["Ada Admin", "Marco Bellini", NAME])
    assert re.search(rf'<option selected value="{technician.id}">', owners)
