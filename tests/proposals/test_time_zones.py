"""Times in the reader's zone: a customer reads the proposal PDF, its e-mail and the status
page in their site's zone with the zone's abbreviation; staff read their own zone."""

import re
from datetime import datetime, time
from io import BytesIO
from zoneinfo import ZoneInfo

import pypdf
import pytest

from fieldsvc.extensions import db
from fieldsvc.mail.models import OutgoingEmail
from fieldsvc.proposals.services import last_seq, save_revision
from fieldsvc.storage import get_storage
from tests.factories import PASSWORD
from tests.proposals.broken_transmitters import (
    TOMORROW,
    build_broken_transmitters,
    editor_line_fields,
    send,
)

NEW_YORK = ZoneInfo("America/New_York")
# 09:00 in Cambridge, MA is 14:00 (winter) or 13:00 (summer) UTC.
NINE_IN_NEW_YORK = re.compile(r"09:00 E[SD]T")


@pytest.fixture
def seed(app):
    """The broken transmitters at a site in Cambridge, MA, the company in UTC, and the
    return visit at 09:00 there."""
    app.config["TIMEZONE"] = "UTC"
    seed = build_broken_transmitters()
    seed.incident.site.time_zone = "America/New_York"
    seed.revision.return_visit_at = datetime.combine(TOMORROW, time(9), tzinfo=NEW_YORK)
    db.session.commit()
    return seed


def _pdf_text(body: bytes) -> str:
    return "".join(page.extract_text() for page in pypdf.PdfReader(BytesIO(body)).pages)


def test_the_customer_pdf_gives_the_visit_in_the_sites_zone_with_its_abbreviation(seed):
    send(seed)

    text = _pdf_text(get_storage().get(seed.revision.pdf_key))

    visit = re.search(r"Return visit:\s*(.*?),\s*technician", text, re.S)[1]
    assert NINE_IN_NEW_YORK.search(visit), visit
    assert "UTC" not in text and "14:00" not in visit and "13:00" not in visit


def test_the_customer_email_gives_the_visit_in_the_sites_zone_with_its_abbreviation(seed):
    send(seed)

    (email,) = db.session.scalars(db.select(OutgoingEmail)).all()
    (visit_line,) = [line for line in email.body.splitlines() if "come back" in line]
    assert NINE_IN_NEW_YORK.search(visit_line), visit_line
    assert f"{TOMORROW.day} {TOMORROW:%B %Y}" in visit_line


def test_the_status_page_gives_the_visit_in_the_sites_zone_even_to_a_signed_in_berliner(
    seed, client
):
    token = send(seed)
    seed.supervisor.time_zone = "Europe/Berlin"
    db.session.commit()
    client.sign_in(seed.supervisor.email, PASSWORD)

    page = client.get(f"/status/{token}").get_data(as_text=True)

    visit = re.search(r"Return visit: <strong>(.*?)</strong>", page)[1]
    assert NINE_IN_NEW_YORK.search(visit), visit
    assert "CET" not in page and "+00:00" not in page


def test_a_site_without_a_zone_reads_in_the_companys(app, seed):
    seed.incident.site.time_zone = None
    app.config["TIMEZONE"] = "Europe/Berlin"
    db.session.commit()

    send(seed)

    (email,) = db.session.scalars(db.select(OutgoingEmail)).all()
    assert re.search(r"at 15:00 CES?T\.", email.body), email.body


def test_the_conflict_table_shows_a_readable_time_in_the_editors_zone(seed, client):
    seed.technician.time_zone = "Europe/Berlin"
    db.session.commit()
    client.sign_in(seed.technician.email, PASSWORD)
    page = client.get(f"/proposals/{seed.proposal.id}").get_data(as_text=True)
    version = re.search(r'name="version" type="hidden" value="(\d+)"', page)[1]
    seen_seq = re.search(r'name="seen_seq" type="hidden" value="(\d+)"', page)[1]
    assert page.count('value="' + f"{TOMORROW.isoformat()}T15:00") == 1  # 09:00 in New York
    # Meanwhile the supervisor moves the visit to 10:00 in New York.
    revision = seed.revision
    save_revision(
        revision,
        seed.draft(return_visit_at=datetime.combine(TOMORROW, time(10), tzinfo=NEW_YORK)),
        actor=seed.supervisor,
        expected_version=revision.version,
        seen_seq=last_seq(),
    )
    db.session.commit()

    answer = client.post(
        f"/proposals/{seed.proposal.id}",
        data=_editor_data(revision) | {"version": version, "seen_seq": seen_seq},
    )

    assert answer.status_code == 409
    text = answer.get_data(as_text=True)
    table = text[text.index('class="flash flash-error conflict"') :]
    table = table[: table.index("</table>")]
    row = re.search(r"<td>Return visit</td><td>(.*?)</td><td>(.*?)</td>", table)
    assert row is not None, table
    assert row.groups() == (
        f"{TOMORROW.isoformat()} 15:00 CET",
        f"{TOMORROW.isoformat()} 16:00 CET",
    ) or row.groups() == (
        f"{TOMORROW.isoformat()} 15:00 CEST",
        f"{TOMORROW.isoformat()} 16:00 CEST",
    )
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", table)


def _editor_data(revision) -> dict[str, str]:
    data = {
        "what_happened": revision.what_happened,
        "already_done": revision.already_done,
        "plan": revision.plan + " Typed meanwhile.",
        "contact_id": str(revision.contact_id),
        "return_visit_at": f"{TOMORROW.isoformat()}T15:00",
        "return_technician_id": str(revision.return_technician_id),
        "valid_until": revision.valid_until.isoformat(),
    }
    return data | editor_line_fields(revision)


def test_a_sent_pdf_keeps_the_zone_it_was_written_in_when_the_sites_zone_changes(seed, client):
    token = send(seed)
    frozen = get_storage().get(seed.revision.pdf_key)
    seed.incident.site.time_zone = "Asia/Tokyo"
    db.session.commit()

    download = client.get(f"/status/{token}/proposals/{seed.revision.id}.pdf")

    assert download.status_code == 200
    assert download.data == frozen
    assert NINE_IN_NEW_YORK.search(_pdf_text(download.data))
    # The status page follows the site's new zone: 09:00 in New York is 23:00 in Tokyo.
    assert "23:00 JST" in client.get(f"/status/{token}").get_data(as_text=True)


def test_staff_hear_of_the_customers_answer_in_their_own_zone_and_the_customer_reads_theirs(
    app, seed
):
    token = send(seed)
    seed.technician.time_zone = "Europe/Berlin"  # the proposal's author
    db.session.commit()
    customer = app.test_client()

    customer.post(
        f"/status/{token}/answer/accept",
        data={
            "accept-revision_id": seed.revision.id,
            "accept-pdf_sha256": seed.revision.pdf_sha256,
            "accept-full_name": "Dana Whitfield",
        },
    )

    to_author = db.session.scalars(
        db.select(OutgoingEmail).where(OutgoingEmail.to_address == seed.technician.email)
    ).one()
    assert re.search(r"accepted revision 1 .*, \d{4}-\d\d-\d\d \d\d:\d\d CES?T\.", to_author.body)
    page = customer.get(f"/status/{token}").get_data(as_text=True)
    assert re.search(r"Accepted by Dana Whitfield on .*? at \d\d:\d\d E[SD]T\.", page)
