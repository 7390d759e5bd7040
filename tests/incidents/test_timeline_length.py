"""A long history on the incident page: the page tells its latest steps and links to the
whole timeline, so an incident worked on for months opens as fast as a new one."""

import html
import re

from fieldsvc.auth.models import Role
from fieldsvc.extensions import db
from fieldsvc.incidents import queries, services
from tests.factories import add_activity

WHOLE_TIMELINE = "Show the whole timeline"


def _timeline(client, url: str) -> tuple[str, int]:
    """The timeline section's text as a person reads it, and how many entries it lists."""
    page = client.get(url).get_data(as_text=True)
    section = page[page.index('id="history-title"') :]
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", section)).split())
    return text, section.count("<li>")


def test_a_long_history_shows_its_latest_entries_and_links_to_the_whole_timeline(
    client, signed_in, make_team, make_user, make_site, make_incident
):
    team = make_team()
    me = signed_in(Role.TECHNICIAN, team=team)
    site = make_site()
    site.customer.team = team
    incident = make_incident(site=site, actor=me, actual="Seal cracked on the first visit")
    add_activity(incident, [me, make_user(Role.TECHNICIAN, team=team)], 30)
    url = f"/incidents/{incident.id}"

    latest, shown = _timeline(client, url)
    assert "Promise 29" in latest
    assert "Seal cracked on the first visit" not in latest  # how it was reported: the oldest
    link = re.search(r'<a href="([^"]+)">' + WHOLE_TIMELINE, client.get(url).get_data(as_text=True))
    assert link is not None

    whole, all_entries = _timeline(client, html.unescape(link[1]))
    assert "Seal cracked on the first visit" in whole and "Promise 29" in whole
    assert WHOLE_TIMELINE not in whole
    assert all_entries > shown


def test_a_short_history_is_shown_whole_without_a_link(
    client, signed_in, make_team, make_site, make_incident
):
    team = make_team()
    me = signed_in(Role.TECHNICIAN, team=team)
    site = make_site()
    site.customer.team = team
    incident = make_incident(site=site, actor=me, actual="Seal cracked on the first visit")
    add_activity(incident, [me], 2)

    text, _ = _timeline(client, f"/incidents/{incident.id}")
    assert "Seal cracked on the first visit" in text and "Promise 1" in text
    assert WHOLE_TIMELINE not in text


def test_a_step_the_cut_passes_through_is_left_out_whole(
    signed_in, make_team, make_site, make_equipment, make_incident
):
    team = make_team()
    me = signed_in(Role.TECHNICIAN, team=team)
    site = make_site()
    site.customer.team = team
    tags = [make_equipment(site=site) for _ in range(3)]
    # One step: the incident and its three equipment links, told as one entry.
    incident = make_incident(site=site, actor=me, equipment_ids=[e.id for e in tags])
    for n in range(3):
        services.log_work(
            incident, actor=me, started_at=incident.occurred_at, minutes=5, note=f"W{n}"
        )
    db.session.commit()
    whole = queries.timeline(incident)

    # Room for the three work-log entries and part of the report's step.
    latest = queries.latest_timeline(incident, events=5)

    assert latest.earlier
    assert [e.headline for e in latest.entries] == [e.headline for e in whole[-3:]]
    assert all(e.event.object_type == "WorkLogEntry" for e in latest.entries)
