"""The export is the import's shape: downloading the data and importing it changes
nothing, and no cell of it runs as a formula in a spreadsheet program."""

import io
from datetime import date

import openpyxl
import pytest
from sqlalchemy import select

from fieldsvc.auth.models import Role
from fieldsvc.customers.models import Contact
from fieldsvc.extensions import db
from fieldsvc.imports import services

FORMULA = '=HYPERLINK("http://evil.example","Click")'


@pytest.fixture
def reference_data(make_team, make_customer, make_site, make_contact, make_equipment):
    """Records with and without external ids, and values a spreadsheet would run."""
    team = make_team(name="South")
    with_ids = make_customer(name="Northwind Pharma", team=team, external_id="C-1")
    without = make_customer(name="@Fabrikam", notes=FORMULA)
    site = make_site(customer=with_ids, name="Building 4", external_id="S-1", time_zone="UTC")
    other_site = make_site(customer=without, name="-Dock", address="+1 Pier")
    make_contact(customer=with_ids, name="Dana", phone="+1 973 555 0142", external_id="K-1")
    make_contact(customer=without, name="Lee", email=None, phone=None)
    make_equipment(site=site, tag="PT-1", external_id="E-1", calibration_due_on=date(2027, 5, 1))
    make_equipment(site=other_site, tag="=1+1", serial="007", calibration_due_on=None)
    db.session.commit()


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_importing_the_export_finds_every_record_unchanged(
    client, signed_in, reference_data, file_format
):
    admin = signed_in(Role.ADMIN)
    response = client.get(f"/imports/reference-data.{file_format}")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    plan = services.preview_import(response.data, actor=admin)
    assert plan.counts == {"create": 0, "update": 0, "unchanged": 8, "refused": 0}, plan.refused


def test_exported_cells_that_a_spreadsheet_would_run_are_neutralised(
    api_as, make_user, reference_data
):
    api = api_as(make_user(Role.TECHNICIAN), scopes=("customers:read",))
    csv_text = api.get("/exports/reference.csv").get_data(as_text=True)
    assert "'@Fabrikam" in csv_text and "'=1+1" in csv_text and "'-Dock" in csv_text
    assert "'+1 973 555 0142" in csv_text
    assert '"\'=HYPERLINK(""http://evil.example"",""Click"")"' in csv_text
    for line in csv_text.splitlines()[1:]:
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in line.split(","))

    workbook = openpyxl.load_workbook(io.BytesIO(api.get("/exports/reference.xlsx").data))
    cells = [cell for row in workbook.active.iter_rows() for cell in row if cell.value]
    assert FORMULA in [cell.value for cell in cells]
    assert {cell.data_type for cell in cells} == {"s"}  # text, never a formula


def test_imported_text_is_kept_as_text(signed_in, make_customer):
    admin = signed_in(Role.ADMIN)
    customer = make_customer(name="Contoso", external_id="C-9")
    db.session.commit()
    content = (
        b"kind,external_id,customer_external_id,name,phone\r\n"
        b"contact,K-9,C-9,=cmd|' /C calc'!A0,'+41 44 555 01 42\r\n"
    )
    upload = services.store_upload("contacts.csv", content, actor=admin)
    services.run_import(upload, actor=admin, skip_refused=False)
    contact = db.session.scalar(select(Contact).where(Contact.customer_id == customer.id))
    assert (contact.name, contact.phone) == ("=cmd|' /C calc'!A0", "+41 44 555 01 42")
