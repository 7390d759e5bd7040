"""How an import reads in the audit trail: the file, its fingerprint and what it did."""

from fieldsvc.audit.wording import Wording, name_actions, register
from fieldsvc.imports.models import SpreadsheetImport

register(
    SpreadsheetImport,
    Wording(
        noun="spreadsheet import",
        labels={
            "file_name": "File",
            "sha256": "SHA-256",
            "rows": "Rows",
            "create": "New",
            "update": "Changed",
            "unchanged": "Unchanged",
            "refused": "Refused",
        },
    ),
)
name_actions({"imported": "Imported a spreadsheet"})
