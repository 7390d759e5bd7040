"""Import customers, sites, contacts and equipment from a spreadsheet, and export them
in the same shape.

The preview is the import rolled back: every row goes through the same create-or-update
by external id as the API's sync (customers.services.sync_record) inside a savepoint
that is then undone, so what the preview shows is what the import does. The import runs
the rows again, compares the outcome with the preview the person saw, and writes only
if nothing changed since.
"""

import hashlib
import json
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

import marshmallow as ma
from sqlalchemy import delete, func, inspect, select
from sqlalchemy.exc import IntegrityError

from fieldsvc.api import schemas
from fieldsvc.audit.services import acting, record
from fieldsvc.auth.models import Role, Team, User
from fieldsvc.customers import services as customers
from fieldsvc.database import utcnow
from fieldsvc.errors import DomainError, FieldError, NotAllowed
from fieldsvc.extensions import db
from fieldsvc.imports.models import SpreadsheetImport
from fieldsvc.imports.spreadsheet import COLUMNS, Sheet, read_sheet

# Parents before children, so a file can bring a new customer with its sites.
KINDS = ("customer", "site", "contact", "equipment")
KIND_LABELS = {kind: kind.capitalize() for kind in KINDS}
# The columns of each kind's own values, and those that name its parent.
FIELDS = {
    "customer": ("name", "team", "notes"),
    "site": ("name", "address", "time_zone"),
    "contact": ("name", "email", "phone"),
    "equipment": ("tag", "serial", "model", "calibration_due_on"),
}
PARENT_COLUMNS = {
    "customer": (),
    "site": ("customer_id", "customer_external_id"),
    "contact": ("customer_id", "customer_external_id"),
    "equipment": ("site_id", "site_external_id"),
}
# Validated as the API validates the same values.
_SCHEMAS = {
    "customer": schemas.CustomerIn,
    "site": schemas.SiteIn,
    "contact": schemas.ContactIn,
    "equipment": schemas.EquipmentIn,
}
# An upload nobody imported is kept this long for its preview, then deleted.
KEEP_PREVIEWS = timedelta(days=1)
# Who may import: the people who may edit customers, sites, contacts and equipment on
# their pages (records.RecordType.manage_roles of each).
IMPORT_ROLES = (Role.ADMIN,)


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    REFUSED = "refused"

    @property
    def label(self) -> str:
        return {
            "create": "New",
            "update": "Changed",
            "unchanged": "Unchanged",
            "refused": "Refused",
        }[self.value]

    @property
    def css_class(self) -> str:
        return f"outcome-{self.value}"


@dataclass(frozen=True)
class Change:
    field: str
    old: str
    new: str


@dataclass
class RowOutcome:
    row: int  # as the spreadsheet program numbers it: the header is row 1
    kind: str
    name: str  # the record as a person knows it: its name or tag
    external_id: str | None
    action: Action = Action.REFUSED
    changes: list[Change] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind or "?")

    def as_json(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "kind": self.kind,
            "name": self.name,
            "external_id": self.external_id,
            "action": self.action.value,
            "changes": [{"field": c.field, "old": c.old, "new": c.new} for c in self.changes],
            "reasons": self.reasons,
        }


@dataclass(frozen=True)
class Plan:
    rows: list[RowOutcome]

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(row.action.value for row in self.rows)
        return {action.value: found.get(action.value, 0) for action in Action}

    @property
    def refused(self) -> list[RowOutcome]:
        return [row for row in self.rows if row.action is Action.REFUSED]

    @property
    def digest(self) -> str:
        """What the person saw: the outcome of every row. The import compares it with the
        outcome at its own time, and stops if the data changed since the preview."""
        outcome = json.dumps([row.as_json() for row in self.rows], sort_keys=True)
        return hashlib.sha256(outcome.encode()).hexdigest()


class ImportBlocked(DomainError):
    """Rows are refused and the person did not choose to skip them: nothing is written."""

    status = 422

    def __init__(self, plan: Plan) -> None:
        count = len(plan.refused)
        super().__init__(
            f"{count} row{'s are' if count > 1 else ' is'} refused, so nothing was imported. "
            "Correct the file and upload it again, or tick “import the valid rows, skip the "
            "refused ones”."
        )
        self.plan = plan


class PreviewStale(DomainError):
    """The data changed between the preview and the import: the import would not do
    what the person saw, so it shows them the new preview instead."""

    status = 409

    def __init__(self, plan: Plan) -> None:
        super().__init__(
            "The data changed since this preview was made, so nothing was imported. Here is "
            "what the import would do now: check it and import again."
        )
        self.plan = plan


# --- uploads ----------------------------------------------------------------------------


def store_upload(file_name: str, content: bytes, *, actor: User) -> SpreadsheetImport:
    """Keep an uploaded spreadsheet for its preview, under a random token; a file that is
    not a readable spreadsheet is refused here (SpreadsheetRefused)."""
    _check_role(actor)
    sheet = read_sheet(content)
    db.session.execute(
        delete(SpreadsheetImport).where(
            SpreadsheetImport.imported_at.is_(None),
            SpreadsheetImport.uploaded_at < utcnow() - KEEP_PREVIEWS,
        )
    )
    upload = SpreadsheetImport(
        token=secrets.token_urlsafe(32),
        user_id=actor.id,
        file_name=(file_name or "spreadsheet").strip()[:255] or "spreadsheet",
        file_format=sheet.file_format,
        sha256=hashlib.sha256(content).hexdigest(),
        content=content,
    )
    db.session.add(upload)
    db.session.flush()
    return upload


def upload_for(token: str, *, actor: User) -> SpreadsheetImport | None:
    """The upload behind a preview's token, if it is this person's."""
    return db.session.scalar(
        select(SpreadsheetImport).where(
            SpreadsheetImport.token == token, SpreadsheetImport.user_id == actor.id
        )
    )


# --- preview and import -------------------------------------------------------------------


def preview_import(content: bytes, *, actor: User) -> Plan:
    """What importing `content` would do to each row; nothing is written."""
    _check_role(actor)
    sheet = read_sheet(content)
    savepoint = db.session.begin_nested()
    try:
        return _apply(sheet, actor=actor, reason="Preview of a spreadsheet import")
    finally:
        savepoint.rollback()


def run_import(
    upload: SpreadsheetImport,
    *,
    actor: User,
    skip_refused: bool,
    seen_digest: str | None = None,
) -> Plan:
    """Import the uploaded rows in the caller's transaction; refused rows block it unless
    `skip_refused`, and a `seen_digest` (the preview's) that no longer matches raises
    PreviewStale. One audit event names the file, its SHA-256 and the counts."""
    _check_role(actor)
    if upload.imported_at is not None:
        raise DomainError("This file was already imported: upload it again to import it again.")
    sheet = read_sheet(upload.content)
    reason = f"Imported from {upload.file_name}"
    savepoint = db.session.begin_nested()
    plan = _apply(sheet, actor=actor, reason=reason)
    if seen_digest is not None and plan.digest != seen_digest:
        savepoint.rollback()
        raise PreviewStale(plan)
    if plan.refused and not skip_refused:
        savepoint.rollback()
        raise ImportBlocked(plan)
    savepoint.commit()
    upload.imported_at = utcnow()
    upload.counts = plan.counts
    with acting(actor, reason=reason):
        record(
            upload,
            "imported",
            {
                "file_name": upload.file_name,
                "sha256": upload.sha256,
                "rows": len(plan.rows),
                **plan.counts,
            },
        )
    return plan


def _check_role(actor: User) -> None:
    if not actor.has_role(*IMPORT_ROLES):
        raise NotAllowed(
            "Only admins may import customers, sites, contacts and equipment, as only they "
            "may edit them."
        )


def _apply(sheet: Sheet, *, actor: User, reason: str) -> Plan:
    duplicates = _duplicates(sheet)
    outcomes = []
    order = {kind: index for index, kind in enumerate(KINDS)}
    rows = sorted(sheet.rows, key=lambda row: (order.get(_kind(row[1]), 0), row[0]))
    with acting(actor, reason=reason):
        for number, cells in rows:
            outcome = _apply_row(number, cells, sheet.columns, duplicates.get(number), actor)
            outcomes.append(outcome)
    return Plan(sorted(outcomes, key=lambda outcome: outcome.row))


def _kind(cells: dict[str, str | None]) -> str:
    kind = (cells.get("kind") or "").strip().lower()
    return kind[:-1] if kind in ("customers", "sites", "contacts") else kind


def _duplicates(sheet: Sheet) -> dict[int, str]:
    """Rows that name the same record as another row: the file must say once what a
    record becomes, so every one of them is refused."""
    seen: dict[tuple[str, str, str], list[int]] = {}
    for number, cells in sheet.rows:
        for key in ("external_id", "id"):
            if value := cells.get(key):
                seen.setdefault((_kind(cells), key, value), []).append(number)
    found = {}
    for (kind, key, value), numbers in seen.items():
        if len(numbers) > 1:
            where = ", ".join(str(n) for n in numbers)
            for number in numbers:
                found[number] = f"{kind.capitalize()} {key} {value} is on rows {where}: keep one."
    return found


def _apply_row(
    number: int,
    cells: dict[str, str | None],
    columns: tuple[str, ...],
    duplicate: str | None,
    actor: User,
) -> RowOutcome:
    kind = _kind(cells)
    name = cells.get("tag" if kind == "equipment" else "name") or ""
    outcome = RowOutcome(number, kind, name, cells.get("external_id"))
    if kind not in KINDS:
        outcome.reasons.append(
            f"kind is “{cells.get('kind') or ''}”: write customer, site, contact or equipment."
        )
        return outcome
    if duplicate:
        outcome.reasons.append(duplicate)
        return outcome
    stray = [
        column
        for column in COLUMNS
        if cells.get(column)
        and column not in ("kind", "id", "external_id", *FIELDS[kind], *PARENT_COLUMNS[kind])
    ]
    if stray:
        outcome.reasons.append(
            f"{', '.join(stray)} {'are not columns' if len(stray) > 1 else 'is not a column'} "
            f"of {kind} rows: leave {'them' if len(stray) > 1 else 'it'} empty."
        )
        return outcome
    try:
        obj = _find(kind, cells)
        data = _values(kind, cells, columns, obj)
    except FieldError as error:
        outcome.reasons.append(error.message)
        return outcome
    if obj is not None and not outcome.name:
        outcome.name = str(obj.tag if kind == "equipment" else obj.name)
    before = _snapshot(obj) if obj is not None else None
    savepoint = db.session.begin_nested()
    try:
        saved = customers.sync_record(kind, obj, data, actor=actor)
    except DomainError as error:
        savepoint.rollback()
        outcome.reasons.append(str(error))
        return outcome
    except IntegrityError:
        savepoint.rollback()
        outcome.reasons.append("Another record already has these values (saved meanwhile?).")
        return outcome
    savepoint.commit()
    if before is None:
        outcome.action = Action.CREATE
        return outcome
    after = _snapshot(saved)
    outcome.changes = [
        Change(
            name.removesuffix("_id") if name != "external_id" else name,
            _shown(saved, name, before[name]),
            _shown(saved, name, after[name]),
        )
        for name in after
        if before[name] != after[name]
    ]
    outcome.action = Action.UPDATE if outcome.changes else Action.UNCHANGED
    return outcome


def _find(kind: str, cells: dict[str, str | None]) -> Any | None:
    """The record a row names: by external id; by our id when it has none, or when no
    record has that external id yet (the row then gives the record its external id)."""
    model = customers.MODELS[kind]
    external_id, record_id = cells.get("external_id"), cells.get("id")
    by_external = customers.find_by_external_id(kind, external_id) if external_id else None
    if record_id is None:
        if external_id is None:
            raise FieldError(
                "external_id",
                "Give the record its external id (its id in your ERP), or our id to change "
                "a record that has none: a second import then finds it again.",
            )
        return by_external
    if not record_id.isdigit() or not 0 < int(record_id) < 2**31:
        raise FieldError("id", f"id {record_id} is not one of our ids (a whole number).")
    by_id = db.session.get(model, int(record_id))
    if by_id is None:
        raise FieldError("id", f"There is no {kind} with id {record_id}.")
    if by_external is not None and by_external.id != by_id.id:
        raise FieldError(
            "id",
            f"id {record_id} and external id {external_id} are two different {kind} records.",
        )
    return by_id


def _values(
    kind: str, cells: dict[str, str | None], columns: tuple[str, ...], obj: Any | None
) -> dict[str, Any]:
    """The row's values as the API's sync takes them: checked by the API's schema; a
    column the file does not have leaves the record's value as it is."""
    schema_fields = _SCHEMAS[kind]._declared_fields
    data: dict[str, Any] = {}
    for name in FIELDS[kind]:
        if name not in columns or name not in schema_fields:
            continue
        value = cells.get(name)
        if value is None and schema_fields[name].required:
            raise FieldError(name, f"{name} is empty: every {kind} row needs one.")
        data[name] = value
    schema = ma.Schema.from_dict({name: schema_fields[name] for name in data})()
    try:
        values = schema.load(data)
    except ma.ValidationError as error:
        name, messages = next(iter(error.messages.items()))
        message = " ".join(messages) if isinstance(messages, list) else str(messages)
        if name == "calibration_due_on":
            message += " Write it as 2027-01-31."
        raise FieldError(name, f"{name} “{data[name]}”: {message}") from None
    if kind == "customer" and "team" in columns:
        values["team_id"] = _team_id(cells.get("team"))
    if external_id := cells.get("external_id"):
        if len(external_id) > 100:
            raise FieldError("external_id", "external_id is longer than 100 characters.")
        values["external_id"] = external_id
    parent = customers.PARENTS.get(kind)
    if parent is not None:
        values.update(_parent(parent, cells, obj))
    return values


def _parent(parent: customers.Parent, cells: dict[str, str | None], obj: Any | None) -> dict:
    external_key = f"{parent.noun}_external_id"
    by_id, by_external = cells.get(parent.field), cells.get(external_key)
    if by_id is None and by_external is None and obj is not None:
        return {parent.field: getattr(obj, parent.field)}  # stays where it is
    if by_id is not None and not (by_id.isdigit() and 0 < int(by_id) < 2**31):
        raise FieldError(parent.field, f"{parent.field} {by_id} is not one of our ids.")
    if by_id is not None and db.session.get(parent.model, int(by_id)) is None:
        raise FieldError(parent.field, f"There is no {parent.noun} with id {by_id}.")
    return {parent.field: int(by_id) if by_id else None, external_key: by_external}


def _team_id(name: str | None) -> int | None:
    if name is None:
        return None
    team_id = db.session.scalar(
        select(Team.id).where(func.lower(Team.name) == name.lower(), Team.active)
    )
    if team_id is None:
        raise FieldError("team", f"There is no active team named “{name}”.")
    return team_id


def _snapshot(obj: Any) -> dict[str, Any]:
    return {
        column.key: getattr(obj, column.key)
        for column in inspect(type(obj)).column_attrs
        if column.key not in ("id", "active")
    }


def _shown(obj: Any, name: str, value: Any) -> str:
    """A value as the preview shows it: a team, customer or site by its name (their ids
    differ between the preview and the import), empty as “(empty)”."""
    if value is None:
        return "(empty)"
    if name.endswith("_id") and name != "external_id":
        model = inspect(type(obj)).relationships[name[:-3]].mapper.class_
        return str(db.session.get(model, value))
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
