"""Upload a spreadsheet, see what it would do, import it; download the current data."""

from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from fieldsvc import clock
from fieldsvc.auth.access import EVERYONE, role_required
from fieldsvc.database import utcnow
from fieldsvc.extensions import db
from fieldsvc.imports import queries, services
from fieldsvc.imports.forms import ConfirmImportForm, UploadSpreadsheetForm
from fieldsvc.imports.models import SpreadsheetImport
from fieldsvc.imports.services import IMPORT_ROLES, ImportBlocked, Plan, PreviewStale
from fieldsvc.imports.spreadsheet import MAX_BYTES, SpreadsheetRefused, write_csv, write_xlsx

bp = Blueprint("imports", __name__, url_prefix="/imports")

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.get("/")
@role_required(*IMPORT_ROLES)
def index():
    return render_template("imports/index.html", form=UploadSpreadsheetForm())


@bp.post("/")
@role_required(*IMPORT_ROLES)
def upload():
    form = UploadSpreadsheetForm()
    if form.validate_on_submit():
        file = form.spreadsheet.data
        try:
            stored = services.store_upload(
                file.filename or "", file.read(MAX_BYTES + 1), actor=current_user
            )
        except SpreadsheetRefused as refused:
            db.session.rollback()
            form.spreadsheet.errors.append(str(refused))
        else:
            db.session.commit()
            return redirect(url_for(".preview", token=stored.token))
    return render_template("imports/index.html", form=form), 422


@bp.get("/<token>")
@role_required(*IMPORT_ROLES)
def preview(token: str):
    upload = _upload_or_404(token)
    if upload.imported_at is not None:
        return render_template("imports/preview.html", upload=upload, plan=None, form=None)
    plan = services.preview_import(upload.content, actor=current_user)
    return _show(upload, plan, ConfirmImportForm(digest=plan.digest))


@bp.post("/<token>/import")
@role_required(*IMPORT_ROLES)
def confirm(token: str):
    upload = _upload_or_404(token)
    form = ConfirmImportForm()
    if not form.validate_on_submit():
        abort(400, "The import form was incomplete: open the preview again.")
    try:
        plan = services.run_import(
            upload,
            actor=current_user,
            skip_refused=form.skip_refused.data,
            seen_digest=form.digest.data,
        )
    except (ImportBlocked, PreviewStale) as stopped:
        db.session.rollback()
        flash(str(stopped), "error")
        shown = ConfirmImportForm(formdata=None, digest=stopped.plan.digest)
        shown.skip_refused.data = form.skip_refused.data
        return _show(upload, stopped.plan, shown, status=stopped.status)
    db.session.commit()
    counts = plan.counts
    flash(
        f"Imported {upload.file_name}: {counts['create']} new, {counts['update']} changed, "
        f"{counts['unchanged']} unchanged, {counts['refused']} refused rows skipped.",
        "success",
    )
    return redirect(url_for(".preview", token=token))


@bp.get("/reference-data.<any(csv, xlsx):file_format>")
@role_required(*EVERYONE)
def export(file_format: str):
    """Every active customer, site, contact and piece of equipment, in the import's shape."""
    rows = queries.export_rows()
    name = f"reference-data-{clock.to_local(utcnow()).date().isoformat()}.{file_format}"
    if file_format == "csv":
        body, mimetype = write_csv(rows), "text/csv"
    else:
        body, mimetype = write_xlsx(rows), XLSX_TYPE
    return Response(
        body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


def _upload_or_404(token: str) -> SpreadsheetImport:
    upload = services.upload_for(token, actor=current_user)
    if upload is None:
        abort(404, "There is no such upload: upload the file again.")
    return upload


def _show(upload: SpreadsheetImport, plan: Plan, form: ConfirmImportForm, status: int = 200):
    return render_template("imports/preview.html", upload=upload, plan=plan, form=form), status
