"""Reads for the import: the current reference data in the spreadsheet's shape."""

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import aliased

from fieldsvc.auth.models import Team
from fieldsvc.customers.models import Contact, Customer, Equipment, Site
from fieldsvc.extensions import db
from fieldsvc.imports.spreadsheet import COLUMNS


def export_rows() -> list[list[str | None]]:
    """Every active customer, site, contact and piece of equipment as the import reads
    them: importing the export changes nothing."""
    rows: list[list[str | None]] = []

    def add(kind: str, obj: Any, **values: Any) -> None:
        cells = {"kind": kind, "id": obj.id, "external_id": obj.external_id, **values}
        rows.append([_cell(cells.get(column)) for column in COLUMNS])

    def parent(noun: str, parent_id: int, parent_external_id: str | None) -> dict[str, Any]:
        if parent_external_id:
            return {f"{noun}_external_id": parent_external_id}
        return {f"{noun}_id": parent_id}

    team = aliased(Team)
    for customer, team_name in db.session.execute(
        select(Customer, team.name)
        .outerjoin(team, Customer.team_id == team.id)
        .where(Customer.active)
        .order_by(Customer.id)
    ):
        add("customer", customer, name=customer.name, team=team_name, notes=customer.notes)
    for site, parent_external in db.session.execute(
        select(Site, Customer.external_id).join(Site.customer).where(Site.active).order_by(Site.id)
    ):
        add(
            "site",
            site,
            **parent("customer", site.customer_id, parent_external),
            name=site.name,
            address=site.address,
            time_zone=site.time_zone,
        )
    for contact, parent_external in db.session.execute(
        select(Contact, Customer.external_id)
        .join(Contact.customer)
        .where(Contact.active)
        .order_by(Contact.id)
    ):
        add(
            "contact",
            contact,
            **parent("customer", contact.customer_id, parent_external),
            name=contact.name,
            email=contact.email,
            phone=contact.phone,
        )
    for equipment, parent_external in db.session.execute(
        select(Equipment, Site.external_id)
        .join(Equipment.site)
        .where(Equipment.active)
        .order_by(Equipment.id)
    ):
        add(
            "equipment",
            equipment,
            **parent("site", equipment.site_id, parent_external),
            tag=equipment.tag,
            serial=equipment.serial,
            model=equipment.model,
            calibration_due_on=equipment.calibration_due_on,
        )
    return rows


def _cell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
