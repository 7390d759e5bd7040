"""Who reads times in which zone: a site's zone for its customer, a person's own for
staff, the company's when none is chosen; zones come from the tz database, and a time
typed in a zone is read there."""

import html
import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from fieldsvc import clock
from fieldsvc.auth.models import Role, User
from fieldsvc.auth.services import set_time_zone
from fieldsvc.customers.models import Site
from fieldsvc.errors import FieldError, NotAllowed
from fieldsvc.extensions import db

NEW_YORK = ZoneInfo("America/New_York")


def _text(response) -> str:
    page = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return " ".join(html.unescape(page).split())


# --- reading and writing times ------------------------------------------------------------


def test_times_are_written_with_the_zones_abbreviation_in_winter_and_summer(app):
    winter, summer = datetime(2026, 12, 1, 14, tzinfo=UTC), datetime(2026, 7, 1, 13, tzinfo=UTC)

    assert clock.format_time(winter, NEW_YORK) == "09:00 EST"
    assert clock.format_time(summer, NEW_YORK) == "09:00 EDT"
    assert clock.format_datetime(winter, NEW_YORK) == "2026-12-01 09:00 EST"
    assert clock.format_date(datetime(2026, 12, 1, 3, tzinfo=UTC), NEW_YORK) == (
        "Monday 30 November 2026"
    )
    assert clock.format_date(date(2026, 12, 1), NEW_YORK) == "Tuesday 1 December 2026"


def test_a_time_the_audit_trail_stored_is_written_in_the_zone_and_other_text_is_kept(app):
    assert clock.format_stored("2026-11-30T04:05:04.459284+00:00", NEW_YORK) == (
        "2026-11-29 23:05 EST"
    )
    assert clock.format_stored("2026-11-30", NEW_YORK) == "2026-11-30"
    assert clock.format_stored("on_site", NEW_YORK) == "on_site"


def test_a_typed_time_is_read_in_the_zone_and_stored_in_utc(app):
    stored = clock.from_local(datetime(2026, 12, 1, 9), NEW_YORK)

    assert stored == datetime(2026, 12, 1, 14, tzinfo=UTC)
    assert stored.utcoffset().total_seconds() == 0


def test_a_typed_time_the_clocks_skip_is_refused_with_the_day_and_the_zone(app):
    with pytest.raises(clock.NonexistentTime) as skipped:
        clock.from_local(datetime(2026, 3, 8, 2, 30), NEW_YORK)

    assert str(skipped.value) == (
        "02:30 on Sunday 8 March 2026 does not exist in America/New_York: the clocks go "
        "forward an hour that night. Type a time before or after the change."
    )


def test_a_typed_time_the_clocks_repeat_is_the_first_of_the_two(app):
    first = clock.from_local(datetime(2026, 11, 1, 1, 30), NEW_YORK)

    assert first == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    assert clock.format_datetime(first, NEW_YORK) == "2026-11-01 01:30 EDT"


def test_a_day_ends_at_midnight_in_the_zone_asked_for(app):
    now = datetime(2026, 11, 30, 22, 30, tzinfo=UTC)  # 23:30 in Berlin, 17:30 in New York

    assert clock.end_of_local_day(now, ZoneInfo("Europe/Berlin")) == datetime(
        2026, 11, 30, 23, tzinfo=UTC
    )
    assert clock.end_of_local_day(now, NEW_YORK) == datetime(2026, 12, 1, 5, tzinfo=UTC)


def test_a_zone_no_longer_known_falls_back_to_the_companys_instead_of_failing(app):
    app.config["TIMEZONE"] = "Europe/Berlin"

    assert clock.zone_named("Atlantis/Capital") == ZoneInfo("Europe/Berlin")
    assert clock.site_zone(Site(name="x", address="y", time_zone=None)) == ZoneInfo("Europe/Berlin")


# --- choosing zones -----------------------------------------------------------------------


def test_a_person_sets_their_own_zone_and_their_pages_show_it(client, signed_in):
    user = signed_in(Role.TECHNICIAN)
    page = client.get("/settings")
    assert page.status_code == 200
    assert '<option value="Europe/Berlin">Europe/Berlin</option>' in page.get_data(as_text=True)

    saved = client.post("/settings", data={"time_zone": "Europe/Berlin"}, follow_redirects=True)

    assert "Saved. Times are now shown in Europe/Berlin (CE" in _text(saved)
    assert db.session.get(User, user.id).time_zone == "Europe/Berlin"


def test_a_made_up_zone_is_refused_next_to_the_field_and_nothing_is_saved(client, signed_in):
    user = signed_in(Role.TECHNICIAN)

    response = client.post("/settings", data={"time_zone": "Mars/Olympus_Mons"})

    assert response.status_code == 422
    assert "Choose a time zone from the list, like America/New_York" in _text(response)
    assert db.session.get(User, user.id).time_zone is None


def test_choosing_the_companys_zone_again_clears_the_own_one(client, signed_in):
    user = signed_in(Role.TECHNICIAN)
    client.post("/settings", data={"time_zone": "Asia/Tokyo"})

    client.post("/settings", data={"time_zone": ""})

    assert db.session.get(User, user.id).time_zone is None


def test_only_an_admin_changes_another_persons_zone(app, make_user):
    technician, other = make_user(Role.TECHNICIAN), make_user(Role.TECHNICIAN)
    admin = make_user(Role.ADMIN)

    with pytest.raises(NotAllowed):
        set_time_zone(other, "Asia/Tokyo", actor=technician)
    set_time_zone(other, "Asia/Tokyo", actor=admin)

    assert other.time_zone == "Asia/Tokyo"
    with pytest.raises(FieldError):
        set_time_zone(other, "Europe/Atlantis", actor=admin)


def test_an_admin_gives_a_user_a_zone_on_the_user_form(client, signed_in, make_user):
    signed_in(Role.ADMIN)
    user = make_user(Role.SUPERVISOR)
    db.session.commit()
    form = {
        "name": user.name,
        "email": user.email,
        "role": "supervisor",
        "approval_limit": "0",
        "team_id": "",
    }

    refused = client.post(f"/users/{user.id}/edit", data=form | {"time_zone": "Nowhere/Land"})
    saved = client.post(f"/users/{user.id}/edit", data=form | {"time_zone": "Asia/Kolkata"})

    assert refused.status_code == 422
    assert saved.status_code == 302
    assert db.session.get(User, user.id).time_zone == "Asia/Kolkata"
    assert "Asia/Kolkata" in _text(client.get(f"/users/{user.id}"))


def test_an_admin_gives_a_site_its_customers_zone_on_the_site_form(
    client, signed_in, make_customer
):
    signed_in(Role.ADMIN)
    customer = make_customer(name="Northwind Pharma")
    db.session.commit()
    form = {"customer_id": str(customer.id), "name": "Cambridge plant", "address": "1 Main St"}
    new_page = client.get(f"/sites/new?customer_id={customer.id}").get_data(as_text=True)
    assert re.search(r"<select [^>]*id=\"time_zone\" name=\"time_zone\">", new_page)
    assert '<option selected value="">The company&#39;s: UTC</option>' in new_page

    refused = client.post("/sites/new", data=form | {"time_zone": "America/Gotham"})
    saved = client.post("/sites/new", data=form | {"time_zone": "America/New_York"})

    assert refused.status_code == 422
    assert "Choose a time zone from the list" in _text(refused)
    assert saved.status_code == 302
    site = db.session.scalars(select(Site).where(Site.name == "Cambridge plant")).one()
    assert site.time_zone == "America/New_York"
    assert "America/New York" in _text(client.get(f"/sites/{site.id}"))
