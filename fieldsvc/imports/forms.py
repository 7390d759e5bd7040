from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, HiddenField
from wtforms.validators import InputRequired, Length

from fieldsvc.imports.spreadsheet import MAX_BYTES, MAX_ROWS


class UploadSpreadsheetForm(FlaskForm):
    spreadsheet = FileField(
        "Spreadsheet",
        validators=[FileRequired("Choose a CSV or Excel file to upload.")],
        description=(
            f"A CSV file (UTF-8) or an Excel workbook (.xlsx) of at most "
            f"{MAX_BYTES // (1024 * 1024)} MB and {MAX_ROWS} rows. Nothing is saved until "
            "you have seen the preview and chosen to import."
        ),
    )


class ConfirmImportForm(FlaskForm):
    # The preview the person saw: the import stops if it would now do something else.
    digest = HiddenField(validators=[InputRequired(), Length(min=64, max=64)])
    skip_refused = BooleanField(
        "Import the valid rows, skip the refused ones",
        description="Unticked, nothing is imported while any row is refused.",
    )
