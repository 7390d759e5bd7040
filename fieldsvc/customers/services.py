"""Rules for customers, sites, contacts and equipment."""

from typing import Any

from sqlalchemy import func, select

from fieldsvc.clock import time_zone_problem
from fieldsvc.customers.models import Equipment, Site
from fieldsvc.errors import FieldError
from fieldsvc.extensions import db


def check_equipment(equipment: Equipment | None, values: dict[str, Any]) -> None:
    """A tag identifies one piece of equipment at its site."""
    stmt = select(Equipment.id).where(
        Equipment.site_id == values["site_id"], func.upper(Equipment.tag) == values["tag"].upper()
    )
    if equipment is not None:
        stmt = stmt.where(Equipment.id != equipment.id)
    if db.session.scalar(stmt) is not None:
        raise FieldError("tag", f"Tag {values['tag']} is already used at this site.")


def check_site(site: Site | None, values: dict[str, Any]) -> None:
    """A site's time zone is one from the tz database, or none (the company's)."""
    if problem := time_zone_problem(values.get("time_zone")):
        raise FieldError("time_zone", problem)
