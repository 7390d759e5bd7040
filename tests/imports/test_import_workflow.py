"""An admin imports the issue's spreadsheet of 30 rows, 3 of them wrong, through the
pages: the preview says what each row does, the import does exactly that, once."""

import re
from io import BytesIO

import pytest
from sqlalchemy import func, select

from fieldsvc.audit.models import AuditEvent
from fieldsvc.auth.models import Role
from fieldsvc.customers.models import Contact, Customer, Equipment, Site
from fieldsvc.extensions import db
from fieldsvc.imports.models import SpreadsheetImport
from tests.imports.conftest import REFUSED


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _records() -> tuple[int, int, int, int]:
    return (_count(Customer), _count(Site), _count(Contact), _count(Equipment))


def _upload(client, name: str, content: bytes):
    return client.post(
        "/imports/",
        data={"spreadsheet": (BytesIO(content), name)},
        content_type="multipart/form-data",
    )


def _preview(client, spreadsheets, file_format: str = "csv") -> tuple[str, str]:
    """Upload the spreadsheet; the preview page's URL and text."""
    response = _upload(client, *spreadsheets[file_format])
    assert response.status_code == 302, response.get_data(as_text=True)
    url = response.headers["Location"]
    return url, client.get(url).get_data(as_text=True)


def _totals(page: str) -> dict[str, int]:
    found = re.findall(r'class="badge outcome-(\w+)">[^<]+</span> (\d+)', page)
    return {action: int(number) for action, number in found}


def _confirm(client, url: str, page: str, skip_refused: bool):
    digest = re.search(r'name="digest" type="hidden" value="(\w+)"', page)[1]
    data = {"digest": digest} | ({"skip_refused": "y"} if skip_refused else {})
    return client.post(f"{url}/import", data=data)


@pytest.fixture
def admin(signed_in):
    return signed_in(Role.ADMIN)


def test_the_preview_shows_27_good_rows_and_3_refused_with_their_reasons_and_saves_nothing(
    client, admin, existing, spreadsheets
):
    before = _records()
    _url, page = _preview(client, spreadsheets, "xlsx")

    assert _totals(page) == {"create": 24, "update": 3, "unchanged": 0, "refused": 3}
    assert "3 rows are refused" in page
    for row, reason in REFUSED.items():
        assert f"<strong>Row {row}</strong>" in page
        assert reason in page
    # The changes of the known records, old → new.
    assert "notes: <del>(empty)</del> → <ins>Key account</ins>" in page
    assert "calibration_due_on: <del>2027-01-31</del> → <ins>2027-03-01</ins>" in page
    # A name from the file is text on the page, never markup.
    assert "Contoso &lt;Labs&gt;" in page and "Contoso <Labs>" not in page
    assert _records() == before
    assert existing.notes is None


def test_an_import_with_refused_rows_writes_nothing_unless_the_admin_skips_them(
    client, admin, existing, spreadsheets
):
    before = _records()
    url, page = _preview(client, spreadsheets)

    refused = _confirm(client, url, page, skip_refused=False)
    assert refused.status_code == 422
    assert "3 rows are refused, so nothing was imported" in refused.get_data(as_text=True)
    assert _records() == before

    done = _confirm(client, url, page, skip_refused=True)
    assert done.status_code == 302
    assert "24 new, 3 changed, 0 unchanged, 3 refused rows skipped" in client.get(
        done.headers["Location"]
    ).get_data(as_text=True)
    customers, sites, contacts, equipment = before
    assert _records() == (customers + 1, sites + 1, contacts + 2, equipment + 20)
    assert db.session.get(Customer, existing.id).notes == "Key account"
    plant = db.session.scalar(select(Site).where(Site.external_id == "S-200"))
    assert [e.tag for e in plant.equipment] == [f"PT-{n}" for n in range(201, 221)]
    assert plant.customer.name == "Contoso <Labs>"

    (event,) = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "imported"))
    upload = db.session.get(SpreadsheetImport, event.object_id)
    assert event.actor_id == admin.id
    assert event.changes["file_name"] == "transmitters.csv"
    assert event.changes["sha256"] == upload.sha256 and len(upload.sha256) == 64
    assert (event.changes["create"], event.changes["update"], event.changes["refused"]) == (
        24,
        3,
        3,
    )
    # Each record created or changed has its own event, by the admin, naming the file.
    record_events = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.object_type.in_(["Customer", "Site", "Contact", "Equipment"]),
            AuditEvent.reason == "Imported from transmitters.csv",
        )
    ).all()
    assert len(record_events) == 27
    assert {e.actor_id for e in record_events} == {admin.id}


def test_a_preview_made_stale_by_a_change_is_shown_again_not_applied(
    client, admin, existing, spreadsheets
):
    url, page = _preview(client, spreadsheets)
    # Meanwhile someone gives the customer the notes the file would give it.
    existing.notes = "Key account"
    db.session.commit()
    before = _records()

    stale = _confirm(client, url, page, skip_refused=True)
    shown = stale.get_data(as_text=True)
    assert stale.status_code == 409
    assert "The data changed since this preview was made, so nothing was imported" in shown
    assert _totals(shown) == {"create": 24, "update": 2, "unchanged": 1, "refused": 3}
    assert _records() == before

    assert _confirm(client, url, shown, skip_refused=True).status_code == 302
    assert _count(Customer) == before[0] + 1


def test_an_import_is_confirmed_only_with_the_forms_csrf_token(
    client, admin, existing, spreadsheets
):
    url, page = _preview(client, spreadsheets)
    digest = re.search(r'name="digest" type="hidden" value="(\w+)"', page)[1]
    before = _records()
    response = client.post(
        f"{url}/import", data={"digest": digest, "skip_refused": "y"}, csrf=False
    )
    assert response.status_code == 400
    assert _records() == before
    refused_upload = client.post(
        "/imports/",
        data={"spreadsheet": (BytesIO(b"kind,name\r\ncustomer,X\r\n"), "x.csv")},
        content_type="multipart/form-data",
        csrf=False,
    )
    assert refused_upload.status_code == 400
    assert _count(SpreadsheetImport) == 1


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "This file is not a spreadsheet"),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "old Excel 97 to 2003"),
        ("notes.csv", b"Dear team,\r\nplease add our new site.\r\n", "one of them “kind”"),
    ],
)
def test_a_file_that_is_not_a_spreadsheet_is_refused_with_a_clear_message(
    client, admin, name, content, message
):
    response = _upload(client, name, content)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Nothing was uploaded." in page and message in page
    assert _count(SpreadsheetImport) == 0


def test_only_admins_may_import_as_only_they_may_edit_customers(
    client, signed_in, make_team, spreadsheets
):
    """Supervisors may not edit customers on the customer pages, not even their own
    team's, so they may not import them either."""
    signed_in(Role.SUPERVISOR, team=make_team())
    assert client.get("/imports/").status_code == 403
    assert _upload(client, *spreadsheets["csv"]).status_code == 403
    assert client.get("/imports/reference-data.csv").status_code == 200


def test_another_admins_preview_is_not_found(client, admin, existing, spreadsheets, app, make_user):
    url, _page = _preview(client, spreadsheets)
    other = app.test_client()
    other_admin = make_user(Role.ADMIN)
    db.session.commit()
    other.sign_in(other_admin.email)
    assert other.get(url).status_code == 404
