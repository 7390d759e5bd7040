"""The issue's spreadsheet: 30 rows of customers, sites, contacts and equipment, three of
them wrong, as a CSV file and as an Excel workbook, built here; and the records that
some of its rows change."""

import csv
import io
from datetime import date

import openpyxl
import pytest

from fieldsvc.extensions import db
from tests.api.conftest import api_as, make_token  # noqa: F401  (the API's fixtures, shared)

HEADER = [
    "kind",
    "external_id",
    "customer_external_id",
    "site_external_id",
    "name",
    "team",
    "notes",
    "address",
    "time_zone",
    "email",
    "phone",
    "tag",
    "serial",
    "model",
    "calibration_due_on",
]


def _row(kind: str, external_id: str, **cells: str) -> dict[str, str]:
    return {"kind": kind, "external_id": external_id, **cells}


def thirty_rows() -> list[dict[str, str]]:
    """27 good rows (24 new records, 3 changes) and 3 bad ones, in a person's order."""
    rows = [
        _row("customer", "C-100", name="Northwind Pharma", team="North", notes="Key account"),
        _row("customer", "C-200", name="Contoso <Labs>", team="North"),
        _row(
            "site",
            "S-100",
            customer_external_id="C-100",
            name="Building 4",
            address="1200 Harbor Road",
        ),
        _row(
            "site",
            "S-200",
            customer_external_id="C-200",
            name="Plant 2",
            address="5 Lake Street",
            time_zone="Europe/Zurich",
        ),
        _row(
            "contact",
            "K-201",
            customer_external_id="C-200",
            name="Dana Whitfield",
            email="dana@contoso.example",
            phone="+41 44 555 01 42",
        ),
        _row(
            "contact",
            "K-202",
            customer_external_id="C-200",
            name="Lee Chen",
            email="lee@contoso.example",
        ),
        # Row 8: an e-mail address without its @.
        _row(
            "contact",
            "K-203",
            customer_external_id="C-200",
            name="Sam Patel",
            email="sam.at.contoso.example",
        ),
        _row(
            "equipment",
            "E-101",
            site_external_id="S-100",
            tag="PT-101",
            model="PTX-400",
            calibration_due_on="2027-03-01",
        ),
    ]
    for n in range(201, 221):
        rows.append(
            _row(
                "equipment",
                f"E-{n}",
                site_external_id="S-200",
                tag=f"PT-{n}",
                serial=f"SN-{n}",
                model="PTX-400",
                calibration_due_on="2027-06-30",
            )
        )
        if n == 210:
            # Row 20: a site nobody has.
            rows.append(_row("equipment", "E-299", site_external_id="S-999", tag="PT-299"))
    # Row 31: equipment without its tag.
    rows.append(_row("equipment", "E-298", site_external_id="S-200", serial="SN-298"))
    assert len(rows) == 30
    return rows


REFUSED = {
    8: "email “sam.at.contoso.example”: Not a valid email address.",
    20: "There is no site with external id S-999.",
    31: "tag is empty: every equipment row needs one.",
}


def as_csv(rows: list[dict[str, str]], header: list[str] = HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, header, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def as_xlsx(rows: list[dict[str, str]], header: list[str] = HEADER) -> bytes:
    """As Excel keeps it: a date typed into a cell is a date, not text."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        cells = []
        for name in header:
            value = row.get(name) or None
            if name == "calibration_due_on" and value:
                value = date.fromisoformat(value)
            cells.append(value)
        sheet.append(cells)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def spreadsheets() -> dict[str, tuple[str, bytes]]:
    rows = thirty_rows()
    return {
        "csv": ("transmitters.csv", as_csv(rows)),
        "xlsx": ("transmitters.xlsx", as_xlsx(rows)),
    }


@pytest.fixture
def existing(make_team, make_customer, make_site, make_equipment):
    """What the ERP already sent once: the customer, its building and one transmitter."""
    team = make_team(name="North")
    customer = make_customer(name="Northwind Pharma", team=team, external_id="C-100")
    site = make_site(customer=customer, name="Building 4", external_id="S-100")
    make_equipment(
        site=site,
        tag="PT-101",
        model="PTX-400",
        calibration_due_on=date(2027, 1, 31),
        external_id="E-101",
    )
    db.session.commit()
    return customer
