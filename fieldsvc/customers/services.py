"""Rules for customers, sites, contacts and equipment."""

from typing import Any

from sqlalchemy import func, select

from fieldsvc.clock import time_zone_problem
from fieldsvc.customers.models import Contact, Customer, Equipment, Site
from fieldsvc.errors import FieldError
from fieldsvc.extensions import db


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
