"""Rules for suppliers and the parts catalogue."""

from typing import Any

from sqlalchemy import func, select

from fieldsvc.errors import FieldError
from fieldsvc.extensions import db
from fieldsvc.money import to_money
from fieldsvc.parts.models import Part


def check_part(part: Part | None, values: dict[str, Any]) -> None:
    """Part numbers are unique in the catalogue; prices are whole cents."""
    stmt = select(Part.id).where(func.upper(Part.number) == values["number"].upper())
    if part is not None:
        stmt = stmt.where(Part.id != part.id)
    if db.session.scalar(stmt) is not None:
        raise FieldError("number", f"Part number {values['number']} is already in the catalogue.")
    if values["list_price"] != to_money(values["list_price"]):
        raise FieldError("list_price", "Enter the price in whole cents, e.g. 350.00.")
