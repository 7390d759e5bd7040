"""The same import through the API: a dry run answers the preview, an import writes it."""

from io import BytesIO

from sqlalchemy import func, select

from fieldsvc.audit.models import AuditEvent
from fieldsvc.auth.models import Role
from fieldsvc.customers.models import Customer, Equipment
from fieldsvc.extensions import db
from tests.imports.conftest import REFUSED


def _post(api, spreadsheet, query: str = ""):
    name, content = spreadsheet
    return api.post(f"/imports{query}", data={"file": (BytesIO(content), name)})


def _equipment() -> int:
    return db.session.scalar(select(func.count()).select_from(Equipment))


def test_a_dry_run_answers_what_each_row_would_do_and_writes_nothing(
    api_as, make_user, existing, spreadsheets
):
    api = api_as(make_user(Role.ADMIN))
    before = _equipment()
    response = _post(api, spreadsheets["xlsx"], "?dry_run=true")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["imported"] is False
    assert body["counts"] == {"create": 24, "update": 3, "unchanged": 0, "refused": 3}
    refused = {row["row"]: row["reasons"] for row in body["rows"] if row["action"] == "refused"}
    assert refused == {row: [reason] for row, reason in REFUSED.items()}
    (calibration,) = [row for row in body["rows"] if row["external_id"] == "E-101"]
    assert calibration["changes"] == [
        {"field": "calibration_due_on", "old": "2027-01-31", "new": "2027-03-01"}
    ]
    assert _equipment() == before


def test_an_api_import_is_refused_while_rows_are_unless_told_to_skip_them_and_runs_twice_as_once(
    api_as, make_user, existing, spreadsheets
):
    api = api_as(make_user(Role.ADMIN))
    before = _equipment()
    refused = _post(api, spreadsheets["csv"])
    assert refused.status_code == 422
    assert refused.mimetype == "application/problem+json"
    assert {e["field"] for e in refused.get_json()["errors"]} == {"row 8", "row 20", "row 31"}
    assert _equipment() == before

    done = _post(api, spreadsheets["csv"], "?skip_refused=true")
    assert done.status_code == 200
    assert done.get_json()["imported"] is True
    assert done.get_json()["counts"]["create"] == 24
    assert _equipment() == before + 20

    # Run again (an ERP's nightly sync): every good row unchanged, no record touched.
    events = db.session.scalar(select(func.count()).select_from(AuditEvent))
    again = _post(api, spreadsheets["xlsx"], "?skip_refused=true").get_json()
    assert again["counts"] == {"create": 0, "update": 0, "unchanged": 27, "refused": 3}
    assert _equipment() == before + 20
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == events + 1


def test_importing_needs_an_admins_token_with_the_customers_write_scope(
    api_as, make_user, spreadsheets
):
    admin = make_user(Role.ADMIN)
    reader = api_as(admin, scopes=("customers:read",))
    assert _post(reader, spreadsheets["csv"], "?dry_run=true").status_code == 403
    supervisor = api_as(make_user(Role.SUPERVISOR))
    assert _post(supervisor, spreadsheets["csv"], "?dry_run=true").status_code == 403
    assert db.session.scalar(select(func.count()).select_from(Customer)) == 0


def test_a_file_that_is_not_a_spreadsheet_is_a_problem_report(api_as, make_user):
    api = api_as(make_user(Role.ADMIN))
    response = _post(api, ("scan.pdf", b"%PDF-1.7\n\x00\x01binary"), "?dry_run=true")
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert "This file is not a spreadsheet" in response.get_json()["detail"]


def test_the_import_is_in_the_openapi_document(app):
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    operation = document["paths"]["/api/v1/imports"]["post"]
    assert "multipart/form-data" in operation["requestBody"]["content"]
    assert {p["name"] for p in operation["parameters"]} == {"dry_run", "skip_refused"}
    assert "/api/v1/exports/reference.xlsx" in document["paths"]
