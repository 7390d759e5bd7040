"""Why a row is refused, and how a file is read: the rules of the import, through its
services."""

import pytest
from sqlalchemy import select

from fieldsvc.auth.models import Role
from fieldsvc.customers.models import Customer
from fieldsvc.extensions import db
from fieldsvc.imports import services
from fieldsvc.imports.spreadsheet import MAX_ROWS, SpreadsheetRefused, read_sheet
from tests.imports.conftest import as_csv, as_xlsx, thirty_rows


@pytest.fixture
def admin(make_user):
    return make_user(Role.ADMIN)


def _reasons(content: bytes, actor) -> dict[int, list[str]]:
    plan = services.preview_import(content, actor=actor)
    return {row.row: row.reasons for row in plan.rows if row.reasons}


def test_each_bad_row_is_refused_with_its_reason(admin, make_customer, make_site):
    customer = make_customer(name="Northwind", external_id="C-1")
    make_site(customer=customer, external_id="S-9")
    rows = [
        {"kind": "customer", "external_id": "C-2", "name": "Contoso"},
        {"kind": "customer", "external_id": "C-2", "name": "Contoso Ltd"},
        {"kind": "customer", "external_id": "C-3", "name": "Fabrikam", "team": "Nobody"},
        {"kind": "site", "external_id": "S-1", "customer_external_id": "C-1", "name": "Plant"},
        {"kind": "equipment", "external_id": "E-1", "customer_external_id": "C-1", "tag": "PT"},
        {"kind": "transmitter", "external_id": "X-1", "tag": "PT-1"},
        {"kind": "customer", "name": "No id"},
        {
            "kind": "site",
            "external_id": "S-2",
            "customer_external_id": "C-1",
            "name": "Dock",
            "address": "1 Pier",
            "time_zone": "Mars/Olympus",
        },
        {
            "kind": "equipment",
            "external_id": "E-2",
            "site_external_id": "S-9",
            "tag": "PT-2",
            "calibration_due_on": "1999-12-31",
        },
        {
            "kind": "equipment",
            "external_id": "E-3",
            "site_external_id": "S-9",
            "tag": "PT-3",
            "calibration_due_on": "31/12/2027",
        },
        {"kind": "equipment", "external_id": "E-4", "site_external_id": "S-9", "tag": "X" * 61},
    ]
    header = [
        "kind",
        "external_id",
        "customer_external_id",
        "site_external_id",
        "name",
        "team",
        "address",
        "time_zone",
        "tag",
        "calibration_due_on",
    ]
    reasons = _reasons(as_csv(rows, header), admin)
    assert reasons[2] == reasons[3] == ["Customer external_id C-2 is on rows 2, 3: keep one."]
    assert reasons[4] == ["There is no active team named “Nobody”."]
    assert reasons[5] == ["address is empty: every site row needs one."]
    assert reasons[6] == ["customer_external_id is not a column of equipment rows: leave it empty."]
    assert reasons[7] == ["kind is “transmitter”: write customer, site, contact or equipment."]
    assert reasons[8][0].startswith("Give the record its external id")
    assert "Mars/Olympus" in reasons[9][0]
    assert reasons[10][0].startswith("Calibration due must be")
    assert reasons[11] == [
        "calibration_due_on “31/12/2027”: Not a valid date. Write it as 2027-01-31."
    ]
    assert reasons[12] == [f"tag “{'X' * 61}”: Length must be between 1 and 60."]
    assert len(reasons) == 11


def test_a_workbook_and_a_csv_file_of_the_same_rows_read_the_same():
    rows = thirty_rows()
    workbook, text = read_sheet(as_xlsx(rows)), read_sheet(as_csv(rows))
    assert (workbook.file_format, text.file_format) == ("xlsx", "csv")
    assert workbook.columns == text.columns
    assert workbook.rows == text.rows
    assert dict(workbook.rows)[9]["calibration_due_on"] == "2027-03-01"  # a date cell, as text


def test_a_semicolon_separated_file_from_a_european_excel_reads_the_same(admin):
    content = 'kind;external_id;name;notes\r\ncustomer;C-7;Société Générale;"a; b"\r\n'
    plan = services.preview_import(content.encode("utf-8-sig"), actor=admin)
    assert [(row.action, row.name) for row in plan.rows] == [
        (services.Action.CREATE, "Société Générale")
    ]


def test_a_record_without_external_id_is_found_by_our_id_and_gets_the_erps(admin, make_customer):
    customer = make_customer(name="Northwind")
    content = f"kind,id,external_id,name\r\ncustomer,{customer.id},C-42,Northwind\r\n".encode()
    upload = services.store_upload("ids.csv", content, actor=admin)
    plan = services.run_import(upload, actor=admin, skip_refused=False)
    assert [(row.action, row.changes) for row in plan.rows] == [
        (services.Action.UPDATE, [services.Change("external_id", "(empty)", "C-42")])
    ]
    assert db.session.scalar(select(Customer.external_id).where(Customer.id == customer.id)) == (
        "C-42"
    )


def test_a_file_of_too_many_rows_is_refused_whole(admin):
    content = b"kind,external_id,name\r\n" + b"customer,C,X\r\n" * (MAX_ROWS + 1)
    with pytest.raises(SpreadsheetRefused, match=f"more than {MAX_ROWS} rows"):
        services.preview_import(content, actor=admin)


def test_a_column_the_import_does_not_know_is_refused_rather_than_ignored(admin):
    with pytest.raises(SpreadsheetRefused, match="Unknown column: emial"):
        services.preview_import(b"kind,external_id,name,emial\r\ncustomer,C,X,\r\n", actor=admin)
    with pytest.raises(SpreadsheetRefused, match="header row but no rows"):
        services.preview_import(b"kind,external_id,name\r\n", actor=admin)
