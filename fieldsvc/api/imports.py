"""The spreadsheet import and export for integrations: the same files, the same preview
and the same import as the Import page (fieldsvc.imports), with a token instead of a
sign-in."""

import hashlib

import marshmallow as ma
from flask import Response
from flask_smorest import abort
from flask_smorest.fields import Upload
from marshmallow import fields

from fieldsvc.api import auth
from fieldsvc.api.blueprints import ApiBlueprint
from fieldsvc.api.reference import READ, WRITE
from fieldsvc.auth.models import Role
from fieldsvc.extensions import db
from fieldsvc.imports import queries, services
from fieldsvc.imports.services import ImportBlocked
from fieldsvc.imports.spreadsheet import MAX_BYTES, MAX_ROWS, write_csv, write_xlsx

blp = ApiBlueprint(
    "api_imports",
    __name__,
    tag="Spreadsheet import and export",
    description=(
        "Customers, sites, contacts and equipment as one CSV or Excel table with a `kind` "
        "column, matched by external id (scope customers:write to import, customers:read "
        "to export)"
    ),
)
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ImportFile(ma.Schema):
    file = Upload(
        required=True,
        metadata={
            "description": f"A CSV file (UTF-8) or an Excel workbook (.xlsx), at most "
            f"{MAX_BYTES // (1024 * 1024)} MB and {MAX_ROWS} rows"
        },
    )


class ImportArgs(ma.Schema):
    dry_run = fields.Boolean(
        load_default=False,
        metadata={"description": "true: answer what the import would do and write nothing"},
    )
    skip_refused = fields.Boolean(
        load_default=False,
        metadata={
            "description": "true: import the valid rows and skip the refused ones; false: "
            "nothing is imported while any row is refused (422)"
        },
    )


class Change(ma.Schema):
    field = fields.String()
    old = fields.String()
    new = fields.String()


class ImportRow(ma.Schema):
    row = fields.Integer(metadata={"description": "As a spreadsheet numbers it: the header is 1"})
    kind = fields.String()
    name = fields.String()
    external_id = fields.String(allow_none=True)
    action = fields.String(
        metadata={"description": "create, update, unchanged or refused"},
    )
    changes = fields.List(fields.Nested(Change))
    reasons = fields.List(fields.String(), metadata={"description": "Why a row is refused"})


class ImportCounts(ma.Schema):
    create = fields.Integer()
    update = fields.Integer()
    unchanged = fields.Integer()
    refused = fields.Integer()


class ImportResult(ma.Schema):
    file_name = fields.String()
    sha256 = fields.String()
    imported = fields.Boolean(metadata={"description": "false for a dry run"})
    counts = fields.Nested(ImportCounts)
    rows = fields.List(fields.Nested(ImportRow))


@blp.route("/imports", methods=["POST"], endpoint="import_spreadsheet")
@blp.arguments(ImportArgs, location="query")
@blp.arguments(ImportFile, location="files")
@blp.response(200, ImportResult)
@blp.doc(
    summary="Import customers, sites, contacts and equipment from a spreadsheet (admins)",
    description=(
        "The file has one row per record and a `kind` column (customer, site, contact, "
        "equipment); rows are matched by `external_id`, parents by `customer_external_id` / "
        "`site_external_id` (or our ids). One transaction and one audit event. With "
        "`dry_run=true` nothing is written and the answer is the preview."
    ),
)
@auth.requires(WRITE, Role.ADMIN)
def import_spreadsheet(args, files):
    file = files["file"]
    file_name, content = file.filename or "upload", file.read(MAX_BYTES + 1)
    user = auth.caller()
    if args["dry_run"]:
        plan = services.preview_import(content, actor=user)
        return _result(file_name, content, plan, imported=False)
    with auth.writing():
        upload = services.store_upload(file_name, content, actor=user)
        try:
            plan = services.run_import(upload, actor=user, skip_refused=args["skip_refused"])
        except ImportBlocked as blocked:
            db.session.rollback()
            abort(
                422,
                message=str(blocked),
                errors={f"row {row.row}": row.reasons for row in blocked.plan.refused},
            )
    db.session.commit()
    return _result(file_name, content, plan, imported=True)


def _result(file_name: str, content: bytes, plan: services.Plan, *, imported: bool) -> dict:
    return {
        "file_name": file_name,
        "sha256": hashlib.sha256(content).hexdigest(),
        "imported": imported,
        "counts": plan.counts,
        "rows": [row.as_json() for row in plan.rows],
    }


def _export(body: bytes, mimetype: str, name: str) -> Response:
    return Response(
        body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@blp.route("/exports/reference.csv", methods=["GET"], endpoint="export_csv")
@blp.response(
    200, {"type": "string"}, content_type="text/csv", description="The current reference data"
)
@blp.doc(summary="Download customers, sites, contacts and equipment as CSV, the import's shape")
@auth.requires(READ)
def export_csv():
    return _export(write_csv(queries.export_rows()), "text/csv", "reference-data.csv")


@blp.route("/exports/reference.xlsx", methods=["GET"], endpoint="export_xlsx")
@blp.response(
    200,
    {"type": "string", "format": "binary"},
    content_type=XLSX_TYPE,
    description="The current reference data",
)
@blp.doc(summary="Download customers, sites, contacts and equipment as an Excel workbook")
@auth.requires(READ)
def export_xlsx():
    return _export(write_xlsx(queries.export_rows()), XLSX_TYPE, "reference-data.xlsx")
