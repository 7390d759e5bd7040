"""Staff read and type times in their own zone (the company's unless they chose one),
field changes in the timeline included; a typed time the clocks skip is refused with a
reason, and one the clocks repeat is taken as the first of the two."""

import html
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from fieldsvc.auth.models import Role
from fieldsvc.extensions import db
from fieldsvc.incidents.models import WorkLogEntry


def _text(response) -> str:
    page = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return " ".join(html.unescape(page).split())


@pytest.fixture
def technician(app, client, make_user, make_team):
    """A technician in Berlin working for a company in New York."""
    app.config["TIMEZONE"] = "America/New_York"
    user = make_user(Role.TECHNICIAN, team=make_team(), time_zone="Europe/Berlin")
    db.session.commit()
    client.sign_in(user.email)
    return user


@pytest.fixture
def incident(make_incident, technician):
    incident = make_incident(actor=technician, occurred_at=datetime(2025, 1, 15, 7, 30, tzinfo=UTC))
    db.session.commit()
    return incident


def _work(started_at: str) -> dict:
    return {
        "work-started_at": started_at,
        "work-minutes": "90",
        "work-note": "Replaced the diaphragm",
    }


def test_a_technician_in_berlin_reads_the_incident_in_cet_and_not_the_companys_zone(
    client, incident
):
    page = _text(client.get(f"/incidents/{incident.id}"))

    assert "Occurred 2025-01-15 08:30 CET" in page
    assert "EST" not in page


def test_field_changes_in_the_timeline_show_times_in_the_readers_zone(client, incident):
    page = client.get(f"/incidents/{incident.id}").get_data(as_text=True)

    history = page[page.index('id="history-title"') :]
    assert '<td class="field">When it occurred</td><td>2025-01-15 08:30 CET</td>' in history
    # Only the machine-readable <time datetime="..."> keeps the ISO form.
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", re.sub(r"<[^>]+>", " ", history))


def test_a_technician_types_work_times_in_their_own_zone_which_the_form_names(client, incident):
    page = _text(client.get(f"/incidents/{incident.id}"))
    assert "Your time zone: Europe/Berlin (CET)." in page

    client.post(f"/incidents/{incident.id}/work", data=_work("2025-01-15T08:30"))

    entry = db.session.scalars(select(WorkLogEntry)).one()
    assert entry.started_at == datetime(2025, 1, 15, 7, 30, tzinfo=UTC)


def test_a_time_the_clocks_skip_is_refused_with_the_reason_and_nothing_is_saved(
    client, incident, technician
):
    technician.time_zone = "America/New_York"
    db.session.commit()

    response = client.post(f"/incidents/{incident.id}/work", data=_work("2026-03-08T02:30"))

    assert response.status_code == 400
    assert (
        "02:30 on Sunday 8 March 2026 does not exist in America/New_York: the clocks go "
        "forward an hour that night. Type a time before or after the change."
    ) in _text(response)
    assert db.session.scalars(select(WorkLogEntry)).all() == []


def test_a_time_the_clocks_repeat_is_the_first_of_the_two_and_shown_with_its_abbreviation(
    client, incident, technician
):
    technician.time_zone = "America/New_York"
    db.session.commit()

    client.post(f"/incidents/{incident.id}/work", data=_work("2026-11-01T01:30"))

    entry = db.session.scalars(select(WorkLogEntry)).one()
    assert entry.started_at == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT
    assert "2026-11-01 01:30 EDT" in _text(client.get(f"/incidents/{incident.id}"))
