"""Rules for customers, sites, contacts and equipment."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from fieldsvc import records
from fieldsvc.auth.models import Team
from fieldsvc.clock import time_zone_problem
from fieldsvc.customers.models import Contact, Customer, Equipment, Site
from fieldsvc.errors import FieldError
from fieldsvc.extensions import db
from fieldsvc.ranges import PLANNED, window


def check_external_id(model: type, obj: Any | None, values: dict[str, Any]) -> None:
    """An external id (the ERP's) names one record of its kind, so a sync finds it again."""
    external_id = values.get("external_id")
    if not external_id:
        return
    stmt = select(model.id).where(model.external_id == external_id)
    if obj is not None:
        stmt = stmt.where(model.id != obj.id)
    if db.session.scalar(stmt) is not None:
        raise FieldError(
            "external_id", f"External id {external_id} is already used by another record."
        )


def check_customer(customer: Customer | None, values: dict[str, Any]) -> None:
    check_external_id(Customer, customer, values)


def check_contact(contact: Contact | None, values: dict[str, Any]) -> None:
    check_external_id(Contact, contact, values)


def check_equipment(equipment: Equipment | None, values: dict[str, Any]) -> None:
    """A tag identifies one piece of equipment at its site."""
    check_external_id(Equipment, equipment, values)
    stmt = select(Equipment.id).where(
        Equipment.site_id == values["site_id"], func.upper(Equipment.tag) == values["tag"].upper()
    )
    if equipment is not None:
        stmt = stmt.where(Equipment.id != equipment.id)
    if db.session.scalar(stmt) is not None:
        raise FieldError("tag", f"Tag {values['tag']} is already used at this site.")


def check_site(site: Site | None, values: dict[str, Any]) -> None:
    """A site's time zone is one from the tz database, or none (the company's)."""
    check_external_id(Site, site, values)
    if problem := time_zone_problem(values.get("time_zone")):
        raise FieldError("time_zone", problem)


# --- create or update by external id: the API's sync and the spreadsheet import ---------


@dataclass(frozen=True)
class Parent:
    field: str  # "site_id"
    model: type
    noun: str  # "site"


# The record each kind belongs to; a sync names it by our id or by its external id.
PARENTS: dict[str, Parent] = {
    "site": Parent("customer_id", Customer, "customer"),
    "contact": Parent("customer_id", Customer, "customer"),
    "equipment": Parent("site_id", Site, "site"),
}
MODELS: dict[str, type] = {
    "customer": Customer,
    "site": Site,
    "contact": Contact,
    "equipment": Equipment,
}


def find_by_external_id(kind: str, external_id: str) -> Any | None:
    model = MODELS[kind]
    return db.session.scalar(select(model).where(model.external_id == external_id))


def _active(model: type, record_id: int | None, field: str, noun: str) -> None:
    """What a form's choice list allows: an existing, active record."""
    if record_id is None:
        return
    obj = db.session.get(model, record_id)
    if obj is None or not obj.active:
        raise FieldError(field, f"Choose an active {noun}: there is none with id {record_id}.")


def _resolve_parent(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """The parent by our id or by its external id (an ERP knows its own ids)."""
    parent = PARENTS.get(kind)
    if parent is None:
        return data
    data = dict(data)
    key = f"{parent.noun}_external_id"
    external = data.pop(key, None)
    if (data.get(parent.field) is None) == (external is None):
        raise FieldError(parent.field, f"Give either {parent.field} or {key}.")
    if external is not None:
        found = db.session.scalar(
            select(parent.model.id).where(parent.model.external_id == external)
        )
        if found is None:
            raise FieldError(key, f"There is no {parent.noun} with external id {external}.")
        data[parent.field] = found
    return data


def _sync_values(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """The values as the page's form gives them to save_record(): text stripped, empty
    as None, choices checked as the form's lists would."""
    values = {}
    for name, value in data.items():
        if isinstance(value, str):
            value = value.strip() or None
        values[name] = value
    if (parent := PARENTS.get(kind)) is not None:
        _active(parent.model, values.get(parent.field), parent.field, parent.noun)
    if kind == "customer" and "team_id" in values:
        _active(Team, values["team_id"], "team_id", "team")
    if kind == "equipment" and "calibration_due_on" in values:
        window(PLANNED, "Calibration due").check("calibration_due_on", values["calibration_due_on"])
    return values


def sync_record(kind: str, obj: Any | None, data: dict[str, Any], *, actor: Any) -> Any:
    """Create (obj None) or update a customer, site, contact or equipment from an
    integration's values — the API's sync and the spreadsheet import — with the checks
    and the save_record() of the reference-data pages."""
    values = _sync_values(kind, _resolve_parent(kind, data))
    return records.save_record(records.REGISTRY[kind], obj, values, actor=actor)
