"""The incident list: filters, search, newest first, "load more" paging, and a number
of queries that does not grow with the number of incidents shown."""

import re
from datetime import timedelta

from fieldsvc.audit.services import acting
from fieldsvc.auth.models import Role
from fieldsvc.database import utcnow
from fieldsvc.extensions import db
from fieldsvc.incidents.models import FollowUp, IncidentStatus, ReportedVia, Severity


def _references(page: str) -> list[str]:
    return re.findall(r'<span class="code">(INC-\d{4}-\d{5})</span>', page)


def test_filters_and_search_narrow_the_list(
    client, signed_in, make_team, make_site, make_equipment, make_incident
):
    team = make_team()
    user = signed_in(Role.TECHNICIAN, team=team)
    site = make_site()
    site.customer.team = team
    other_site = make_site()
    other_site.customer.team = team
    tag = make_equipment(site=site, tag="PT-117")
    by_phone = make_incident(site=site, actor=user, reported_via=ReportedVia.PHONE)
    critical = make_incident(
        site=site, actor=user, severity=Severity.CRITICAL, equipment_ids=[tag.id]
    )
    elsewhere = make_incident(site=other_site, actual="Leaking valve on the <b>roof</b>")
    elsewhere.status = IncidentStatus.CANCELLED
    db.session.commit()

    def shown(query: str) -> list[str]:
        response = client.get(f"/incidents/?{query}")
        assert response.status_code == 200
        return _references(response.get_data(as_text=True))

    assert shown("") == [elsewhere.reference, critical.reference, by_phone.reference]
    assert shown("reported_via=phone") == [by_phone.reference]
    assert shown("severity=critical") == [critical.reference]
    assert shown(f"customer_id={other_site.customer_id}") == [elsewhere.reference]
    assert shown(f"site_id={site.id}") == [critical.reference, by_phone.reference]
    assert shown("status=cancelled") == [elsewhere.reference]
    assert shown("q=pt-117") == [critical.reference]
    assert shown("q=leaking+VALVE") == [elsewhere.reference]
    assert shown(f"q={by_phone.reference}") == [by_phone.reference]
    assert shown("q=customer+expected") == []
    assert shown("mine=1") == [critical.reference, by_phone.reference]
    assert shown("q=100%25") == []  # a % typed by the user is text, not a wildcard


def test_unknown_filter_value_is_a_clear_400(client, signed_in, make_team):
    signed_in(Role.TECHNICIAN, team=make_team())
    response = client.get("/incidents/?status=lost")
    assert response.status_code == 400
    assert "Unknown filter value “lost”" in response.get_data(as_text=True)


def test_load_more_pages_newest_first_without_gaps_or_repeats(
    app, client, signed_in, make_team, make_site, make_incident
):
    app.config["PAGE_SIZE"] = 4
    team = make_team()
    signed_in(Role.TECHNICIAN, team=team)
    site = make_site()
    site.customer.team = team
    made = [make_incident(site=site).reference for _ in range(10)]
    db.session.commit()

    seen, url = [], "/incidents/"
    while url:
        page = client.get(url).get_data(as_text=True)
        seen += _references(page)
        url = None
        if "Load more" in page:
            url = re.search(r'href="([^"]+)">Load more', page)[1].replace("&amp;", "&")
    assert seen == list(reversed(made))


def test_overdue_filter_keeps_incidents_with_a_late_promise(
    client, signed_in, make_team, make_site, make_incident
):
    team = make_team()
    user = signed_in(Role.TECHNICIAN, team=team)
    site = make_site()
    site.customer.team = team
    late, on_time = make_incident(site=site), make_incident(site=site)
    with acting(None):
        db.session.add_all(
            [
                FollowUp(
                    incident=late,
                    owner=user,
                    created_by=user,
                    promise="Call back",
                    due_at=utcnow() - timedelta(hours=1),
                ),
                FollowUp(
                    incident=on_time,
                    owner=user,
                    created_by=user,
                    promise="Call back",
                    due_at=utcnow() + timedelta(hours=1),
                ),
            ]
        )
    db.session.commit()

    page = client.get("/incidents/?overdue=1").get_data(as_text=True)
    assert _references(page) == [late.reference]
    assert "Follow-up overdue" in page


def test_list_query_count_does_not_grow_with_the_rows_shown(
    app, client, signed_in, make_team, make_site, make_equipment, make_incident, count_queries
):
    app.config["PAGE_SIZE"] = 100
    team = make_team()
    user = signed_in(Role.TECHNICIAN, team=team)
    site = make_site()
    site.customer.team = team
    equipment = [make_equipment(site=site).id for _ in range(3)]

    def queries_for(total: int) -> int:
        while len(_references(client.get("/incidents/").get_data(as_text=True))) < total:
            incident = make_incident(site=site, actor=user, equipment_ids=equipment)
            with acting(None):
                db.session.add(
                    FollowUp(
                        incident=incident,
                        owner=user,
                        created_by=user,
                        promise="Call back",
                        due_at=utcnow() - timedelta(hours=1),
                    )
                )
            db.session.commit()
        with count_queries() as statements:
            page = client.get("/incidents/").get_data(as_text=True)
        assert len(_references(page)) == total
        return len(statements)

    assert queries_for(5) == queries_for(50)


def test_each_row_names_its_customer_site_and_equipment_tags_in_order_escaped(
    client, signed_in, make_team, make_site, make_equipment, make_incident
):
    team = make_team()
    user = signed_in(Role.TECHNICIAN, team=team)
    site = make_site()
    site.customer.team = team
    site.customer.name = "Acme <Pharma>"
    tags = [make_equipment(site=site, tag=tag) for tag in ("PT-9", "PT-10", "FT-2")]
    incident = make_incident(site=site, actor=user, equipment_ids=[t.id for t in tags])
    db.session.commit()

    page = client.get("/incidents/").get_data(as_text=True)

    row = page[page.index(incident.reference) :]
    row = row[: row.index("</li>")]
    assert f"Acme &lt;Pharma&gt; — {site.name}" in row
    assert '<span class="code">FT-2, PT-10, PT-9</span>' in row
    assert f'href="/incidents/{incident.id}"' in page


def test_each_reader_sees_only_their_teams_incidents_even_right_after_another_reader(
    app, make_team, make_user, make_site, make_incident
):
    from fieldsvc.incidents.queries import IncidentFilters, list_rows

    north, south = make_team(), make_team()
    north_tech, south_tech = make_user(team=north), make_user(team=south)
    north_site, south_site = make_site(), make_site()
    north_site.customer.team, south_site.customer.team = north, south
    north_incident = make_incident(site=north_site, actor=north_tech)
    south_incident = make_incident(site=south_site, actor=south_tech)
    db.session.commit()

    def shown(user, **filters) -> list[str]:
        rows, _ = list_rows(user, IncidentFilters(**filters))
        return [row.reference for row in rows]

    for _ in range(2):  # the same lists again: each still the reader's own
        assert shown(north_tech) == [north_incident.reference]
        assert shown(south_tech) == [south_incident.reference]
        assert shown(north_tech, customer_id=north_site.customer_id) == [north_incident.reference]
        assert shown(north_tech, customer_id=south_site.customer_id) == []

    # Moved to the other team: the next list is that team's.
    north_tech.team = south
    db.session.commit()
    assert shown(north_tech) == [south_incident.reference]


def test_a_follow_up_shows_as_overdue_once_its_time_has_passed_in_a_later_list(
    app, make_team, make_user, make_site, make_incident
):
    from fieldsvc.incidents.queries import IncidentFilters, list_rows
    from fieldsvc.incidents.services import promise_follow_up

    team = make_team()
    tech = make_user(team=team)
    site = make_site()
    site.customer.team = team
    incident = make_incident(site=site, actor=tech)
    due = utcnow() + timedelta(hours=2)
    with acting(tech):
        promise_follow_up(incident, actor=tech, owner_id=tech.id, due_at=due, promise="Call back")
    db.session.commit()

    def overdue(now, **filters) -> list[bool]:
        rows, _ = list_rows(tech, IncidentFilters(**filters), now=now)
        return [row.overdue for row in rows]

    assert overdue(due - timedelta(minutes=1)) == [False]
    assert overdue(due + timedelta(minutes=1)) == [True]
    assert overdue(due - timedelta(minutes=1), overdue=True) == []
    assert overdue(due + timedelta(minutes=1), overdue=True) == [True]


def test_each_row_links_to_its_incident_under_any_mount_point(
    client, signed_in, make_team, make_site, make_incident
):
    team = make_team()
    user = signed_in(Role.TECHNICIAN, team=team)
    site = make_site()
    site.customer.team = team
    first, second = make_incident(site=site, actor=user), make_incident(site=site, actor=user)
    db.session.commit()

    def links(base_url: str) -> list[str]:
        page = client.get("/incidents/", base_url=base_url).get_data(as_text=True)
        return re.findall(r'class="incident-link" href="([^"]+)"', page)

    assert links("http://localhost/") == [f"/incidents/{second.id}", f"/incidents/{first.id}"]
    assert links("http://localhost/fieldsvc/") == [
        f"/fieldsvc/incidents/{second.id}",
        f"/fieldsvc/incidents/{first.id}",
    ]
    assert client.get(f"/incidents/{first.id}").status_code == 200


def _rows(page: str) -> list[str]:
    return re.findall(r'<li class="incident-card.*?</li>', page, re.S)


def test_my_day_shows_my_open_incident_as_the_list_does_in_my_time_zone(
    client, signed_in, make_team, make_site, make_incident
):
    team = make_team()
    user = signed_in(Role.TECHNICIAN, team=team)
    user.time_zone = "America/New_York"
    site = make_site()
    site.customer.team = team
    incident = make_incident(site=site, actor=user, severity=Severity.CRITICAL)
    db.session.commit()

    listed = _rows(client.get("/incidents/").get_data(as_text=True))
    in_my_day = _rows(client.get("/my-day").get_data(as_text=True))

    assert len(listed) == 1 and listed == in_my_day
    assert f'href="/incidents/{incident.id}"' in listed[0]
    assert "Critical" in listed[0]
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d E[SD]T</p>", listed[0])


def test_a_row_shows_its_incident_as_it_is_now_after_a_change_and_in_a_new_time_zone(
    client, signed_in, make_team, make_site, make_incident
):
    team = make_team()
    user = signed_in(Role.TECHNICIAN, team=team)
    site = make_site()
    site.customer.team = team
    incident = make_incident(site=site, actor=user, severity=Severity.LOW)
    db.session.commit()
    (before,) = _rows(client.get("/incidents/").get_data(as_text=True))

    incident.severity = Severity.CRITICAL
    incident.actual = "The <seal> leaks again"
    user.time_zone = "Asia/Tokyo"
    db.session.commit()
    (after,) = _rows(client.get("/incidents/").get_data(as_text=True))

    assert "Low" in before and "UTC</p>" in before
    assert "Critical" in after and "Low" not in after
    assert "The &lt;seal&gt; leaks again" in after
    assert re.search(r"\d\d:\d\d JST</p>", after)
