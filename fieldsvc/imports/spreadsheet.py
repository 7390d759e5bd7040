"""Reading and writing the reference-data spreadsheet: one table, one row per record, a
`kind` column saying what the row is. A CSV has one table, so an Excel workbook uses
the same single sheet: what a person exports from either opens and imports the same.

What a file is comes from its bytes, not its name: a workbook is a zip holding
xl/workbook.xml, a CSV is UTF-8 text; anything else is refused with a message that
says how to save it instead.
"""

import csv
import io
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import openpyxl
from openpyxl.cell import WriteOnlyCell

from fieldsvc.errors import DomainError

# The columns, in the order the export writes them. `id` is ours, `external_id` the
# ERP's; a site or contact names its customer, a piece of equipment its site, by either.
COLUMNS = (
    "kind",
    "id",
    "external_id",
    "customer_id",
    "customer_external_id",
    "site_id",
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
)
MAX_BYTES = 2 * 1024 * 1024
# Each row is checked and saved as a record saved on its page (about 7 statements, 6 ms
# of CPU on a busy 2-core machine), and a preview runs them all: 2000 rows take about
# 12 s, inside gunicorn's 60 s timeout. A larger ERP export is split into files.
MAX_ROWS = 2000
# A workbook is compressed: refuse one whose parts unpack to more than this.
MAX_UNPACKED_BYTES = 50 * 1024 * 1024
SHEET_TITLE = "Reference data"

# A cell that starts with one of these is a formula to a spreadsheet program (OWASP's
# CSV injection): the export writes it behind an apostrophe, the import takes that off.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

CSV_HELP = "Upload a CSV file (UTF-8) or an Excel workbook (.xlsx)."


class SpreadsheetRefused(DomainError):
    """The file as a whole cannot be read: not a spreadsheet, too large, no `kind` column."""


@dataclass(frozen=True)
class Sheet:
    file_format: str  # "csv" or "xlsx"
    columns: tuple[str, ...]  # the header's columns, as the file has them
    rows: list[tuple[int, dict[str, str | None]]]  # (row number as a spreadsheet shows it, cells)


def file_format(content: bytes) -> str:
    """ "xlsx" or "csv", from the content; SpreadsheetRefused for anything else."""
    if not content.strip():
        raise SpreadsheetRefused(f"The file is empty. {CSV_HELP}")
    if len(content) > MAX_BYTES:
        raise SpreadsheetRefused(
            f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB: split it into several "
            f"files of at most {MAX_ROWS} rows."
        )
    if content.startswith(b"PK\x03\x04"):
        try:
            names = set(zipfile.ZipFile(io.BytesIO(content)).namelist())
        except (zipfile.BadZipFile, ValueError):
            raise SpreadsheetRefused(f"This zip file is damaged. {CSV_HELP}") from None
        if "xl/workbook.xml" not in names:
            raise SpreadsheetRefused(
                f"This is a zip file, but not an Excel workbook (an OpenDocument sheet or a "
                f"Word file?). {CSV_HELP}"
            )
        return "xlsx"
    if content.startswith(b"\xd0\xcf\x11\xe0"):
        raise SpreadsheetRefused(
            "This is an old Excel 97 to 2003 file (.xls): save it as Excel Workbook (.xlsx) or "
            "as CSV UTF-8 and upload that."
        )
    if b"\x00" in content:
        raise SpreadsheetRefused(f"This file is not a spreadsheet (it is not text). {CSV_HELP}")
    try:
        content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SpreadsheetRefused(
            "This text file is not UTF-8: in your spreadsheet program choose “CSV UTF-8” "
            "when you save it."
        ) from None
    return "csv"


def read_sheet(content: bytes) -> Sheet:
    """The file's header and rows, every cell as text (or None when empty)."""
    kind = file_format(content)
    table = _xlsx_rows(content) if kind == "xlsx" else _csv_rows(content)
    header = next(table, None)
    if header is None:
        raise SpreadsheetRefused(f"The file has no rows. {CSV_HELP}")
    columns = tuple(_column_name(cell) for cell in header)
    while columns and not columns[-1]:
        columns = columns[:-1]
    _check_columns(columns)
    rows = []
    for number, cells in enumerate(table, start=2):
        values = {
            name: _text(cells[index]) if index < len(cells) else None
            for index, name in enumerate(columns)
        }
        if not any(values.values()):
            continue  # a blank line: nothing to import
        if len(rows) == MAX_ROWS:
            raise SpreadsheetRefused(
                f"The file has more than {MAX_ROWS} rows: split it into several files."
            )
        rows.append((number, values))
    if not rows:
        raise SpreadsheetRefused("The file has its header row but no rows under it.")
    return Sheet(kind, columns, rows)


def _check_columns(columns: tuple[str, ...]) -> None:
    if "kind" not in columns:
        raise SpreadsheetRefused(
            "The first row must name the columns, one of them “kind” (customer, site, contact "
            "or equipment). Export the current data to see the layout."
        )
    unknown = [name or "(blank)" for name in columns if name not in COLUMNS]
    if unknown:
        raise SpreadsheetRefused(
            f"Unknown column{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}. "
            f"The columns are: {', '.join(COLUMNS)}."
        )
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        raise SpreadsheetRefused(f"These columns appear twice: {', '.join(repeated)}.")


def _column_name(cell: object) -> str:
    return str(cell or "").strip().lower().replace(" ", "_")


def _text(value: object) -> str | None:
    """A cell as text: numbers without a trailing .0, dates as 2027-01-31, and a formula
    guard the export added taken off."""
    if value is None:
        return None
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    elif isinstance(value, datetime):
        midnight = value.time() == datetime.min.time()
        text = value.date().isoformat() if midnight else value.isoformat()
    elif isinstance(value, date):
        text = value.isoformat()
    else:
        text = str(value)
    text = text.strip()
    if text.startswith("'") and text[1:2] in FORMULA_STARTS and text[1:2]:
        text = text[1:]
    return text or None


def _csv_rows(content: bytes) -> Iterable[Sequence[object]]:
    text = content.decode("utf-8-sig")
    # The delimiter from the header (Excel writes ";" where "," is the decimal comma);
    # quoting as Excel does it, whatever the sniffer guesses from a line without quotes.
    first_line = text.split("\n", 1)[0]
    try:
        delimiter = csv.Sniffer().sniff(first_line, delimiters=",;\t").delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), csv.excel, delimiter=delimiter)
    try:
        yield from reader
    except csv.Error as error:
        raise SpreadsheetRefused(
            f"Row {reader.line_num} of the CSV file cannot be read ({error})."
        ) from None


def _xlsx_rows(content: bytes) -> Iterable[Sequence[object]]:
    archive = zipfile.ZipFile(io.BytesIO(content))
    if sum(info.file_size for info in archive.infolist()) > MAX_UNPACKED_BYTES:
        raise SpreadsheetRefused(
            "This workbook unpacks to more than 50 MB: save only the reference-data sheet."
        )
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a damaged workbook
        raise SpreadsheetRefused(
            f"This Excel workbook cannot be read ({type(error).__name__}). {CSV_HELP}"
        ) from None
    try:
        if not workbook.worksheets:
            raise SpreadsheetRefused(f"This workbook has no sheet. {CSV_HELP}")
        sheet = workbook.worksheets[0]
        width = len(COLUMNS) + 10  # a header wider than this has unknown columns anyway
        try:
            yield from sheet.iter_rows(max_col=width, values_only=True)
        except SpreadsheetRefused:
            raise
        except Exception as error:
            raise SpreadsheetRefused(
                f"This Excel workbook cannot be read ({type(error).__name__}). {CSV_HELP}"
            ) from None
    finally:
        workbook.close()


# --- writing ------------------------------------------------------------------------------


def _guarded(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def write_csv(rows: Iterable[Sequence[str | None]]) -> bytes:
    """The rows under the header, as CSV UTF-8 with a byte-order mark (Excel reads the
    accents right) and every formula-like cell guarded."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(["" if value is None else _guarded(value) for value in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def write_xlsx(rows: Iterable[Sequence[str | None]]) -> bytes:
    """The rows under the header in one sheet. Every cell is written as text, never as a
    formula, whatever it starts with; ids stay text so a leading zero is kept."""
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet(SHEET_TITLE)
    sheet.append(list(COLUMNS))
    for row in rows:
        sheet.append([_text_cell(sheet, value) for value in row])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _text_cell(sheet, value: str | None) -> Any:
    if value is None:
        return None
    cell = WriteOnlyCell(sheet, value)
    cell.data_type = "s"  # openpyxl would make "=…" a formula
    return cell
