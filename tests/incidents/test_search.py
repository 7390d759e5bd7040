"""The incident list's text search: a term anywhere in the reference, what was expected,
what happened or an equipment tag, whatever its case; only the team's incidents; short
terms too; what a person types is text, never a pattern or a search-engine operator;
and the search follows every correction of those fields."""

import re
from urllib.parse import quote

import pytest

from fieldsvc.auth.models import Role
from fieldsvc.extensions import db
from fieldsvc.incidents import services


def _references(page: str) -> list[str]:
    return re.findall(r'<span class="code">(INC-\d{4}-\d{5})</span>', page)


@pytest.fixture
def search(client):
    """The references the incident list shows for a search term, as typed by a person."""

    def shown(term: str) -> list[str]:
        response = client.get(f"/incidents/?q={quote(term)}")
        assert response.status_code == 200
        return _references(response.get_data(as_text=True))

    return shown


@pytest.fixture
def technician(signed_in, make_team):
    return signed_in(Role.TECHNICIAN, team=make_team())


@pytest.fixture
def team_site(technician, make_site):
    """A site of a customer the signed-in technician's team serves."""
    site = make_site()
    site.customer.team = technician.team
    return site


def test_a_term_is_found_in_each_searched_field_whatever_its_case(
    search, team_site, make_equipment, make_incident
):
    gauge = make_equipment(site=team_site, tag="FT-Westwing-9")
    by_expected = make_incident(site=team_site, expected="Zero drift within the Spec sheet")
    by_actual = make_incident(site=team_site, actual="Bourdon tube cracked while venting")
    by_tag = make_incident(site=team_site, equipment_ids=[gauge.id])
    db.session.commit()

    assert search("SPEC SHEET") == [by_expected.reference]
    assert search("tube crack") == [by_actual.reference]
    assert search("westWING") == [by_tag.reference]
    # The middle of the reference, as a person reads it off a PDF or an e-mail.
    number = by_actual.reference.split("-", 1)[1]
    assert search(number.lower()) == [by_actual.reference]
    assert search("no incident says this") == []


def test_another_teams_incident_is_not_found_even_by_its_own_words(
    search, team_site, make_incident
):
    ours = make_incident(site=team_site, actual="Manifold valve seized")
    theirs = make_incident(actual="Manifold valve seized as well")
    db.session.commit()

    assert search("manifold valve") == [ours.reference]
    assert search(theirs.reference) == []


def test_terms_shorter_than_three_characters_still_find_incidents(
    search, team_site, make_equipment, make_incident
):
    tagged = make_incident(
        site=team_site, equipment_ids=[make_equipment(site=team_site, tag="Q7").id]
    )
    flagged = make_incident(site=team_site, actual="Relief set to 9 bar instead of 6 ψ")
    db.session.commit()

    assert search("q7") == [tagged.reference]
    assert search("ψ") == [flagged.reference]
    assert search("zz") == []


@pytest.mark.parametrize(
    ("term", "found"),
    [
        ("100%", True),
        ("100%_open", False),  # % and _ are not wildcards: "100% open" does not match
        ("%", True),
        ("_", True),
        ('"as built"', True),
        ('"', True),
        ("NEAR(", True),
        ("seal OR bolt", True),
        ("seal OR gasket", False),  # not "seal" or "gasket": the words as they stand
        ("bolt*", True),
        ("gask*", False),  # not a prefix search
        ("actual:", True),
        ("actual: seal", False),  # not a column filter
        ("^seal", False),
        ("a/b\\c", True),
    ],
)
def test_what_a_person_types_is_plain_text_not_a_pattern_or_an_operator(
    search, team_site, make_incident, term, found
):
    incident = make_incident(
        site=team_site,
        actual='Valve 100% open_ended, "as built" NEAR(pipe), seal OR bolt*, actual: a/b\\c',
    )
    make_incident(site=team_site, actual="Gasket and seal replaced")
    db.session.commit()

    assert (incident.reference in search(term)) is found


def test_the_search_follows_corrections_of_the_text_and_the_equipment(
    search, technician, team_site, make_equipment, make_incident
):
    old_gauge = make_equipment(site=team_site, tag="PG-Old-1")
    new_gauge = make_equipment(site=team_site, tag="PG-New-2")
    incident = make_incident(site=team_site, equipment_ids=[old_gauge.id])
    db.session.commit()
    assert search("pg-old") == [incident.reference]

    report = services.IncidentReport(
        customer_id=incident.customer_id,
        site_id=incident.site_id,
        equipment_ids=[new_gauge.id],
        reported_via=incident.reported_via,
        severity=incident.severity,
        expected="Seal seated",
        actual="Impulse line kinked behind the panel",
        occurred_at=incident.occurred_at,
        reporter_name="Dana Whitfield",
    )
    services.update_incident(incident, report, actor=technician, reason="Wrong line")
    db.session.commit()

    assert search("impulse line") == [incident.reference]
    assert search("over-pressured") == []
    assert search("pg-old") == []
    assert search("pg-new") == [incident.reference]

    new_gauge.tag = "PG-Renamed-3"
    db.session.commit()
    assert search("pg-renamed") == [incident.reference]
    assert search("pg-new") == []


def test_load_more_pages_through_search_results_newest_first_without_gaps(
    app, client, team_site, make_incident
):
    app.config["PAGE_SIZE"] = 3
    found = [
        make_incident(site=team_site, actual=f"Thermowell {n} bent").reference for n in range(8)
    ]
    for _ in range(4):
        make_incident(site=team_site, actual="Something else entirely")
    db.session.commit()

    seen, url = [], "/incidents/?q=thermowell"
    while url:
        page = client.get(url).get_data(as_text=True)
        seen += _references(page)
        url = None
        if "Load more" in page:
            url = re.search(r'href="([^"]+)">Load more', page)[1].replace("&amp;", "&")
    assert seen == list(reversed(found))
