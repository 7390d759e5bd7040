"""Rules for suppliers and the parts catalogue."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, func, select

from fieldsvc.audit.services import acting
from fieldsvc.auth.models import User
from fieldsvc.database import plain_columns, plain_record_type, plain_rows, utcnow
from fieldsvc.errors import DomainError, FieldError, InvalidTransition
from fieldsvc.extensions import db
from fieldsvc.incidents.models import Incident
from fieldsvc.parts.models import (
    COMMITTED_STATUSES,
    PART_ORDER_TRANSITIONS,
    Part,
    PartOrder,
    PartOrderLine,
    PartOrderStatus,
    Supplier,
)
from fieldsvc.ranges import (
    MAX_ORDER_LINES,
    MONEY,
    PERCENTAGE,
    PLANNED,
    QUANTITY,
    RETURN_WINDOW_DAYS,
    named,
    window,
)


def check_part(part: Part | None, values: dict[str, Any]) -> None:
    """Part numbers are unique in the catalogue; prices are whole cents."""
    stmt = select(Part.id).where(func.upper(Part.number) == values["number"].upper())
    if part is not None:
        stmt = stmt.where(Part.id != part.id)
    if db.session.scalar(stmt) is not None:
        raise FieldError("number", f"Part number {values['number']} is already in the catalogue.")
    named(MONEY, "The list price").check("list_price", values["list_price"])


# --- part orders ------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderLineInput:
    description: str
    quantity: Decimal
    unit_cost: Decimal | None  # None: the catalogue part's list price (or 0 without a part)
    discount_pct: Decimal = Decimal("0")
    part_id: int | None = None


@dataclass(frozen=True)
class OrderDetails:
    supplier_id: int
    po_number: str | None = None
    ordered_on: date | None = None
    expected_on: date | None = None
    return_window_days: int | None = None
    restocking_fee_pct: Decimal = Decimal("0")


def order_parts(
    incident: Incident,
    details: OrderDetails,
    lines: Sequence[OrderLineInput],
    *,
    actor: User,
) -> PartOrder:
    """Record a part order for an incident (status "to order" until it is placed)."""
    if not lines:
        raise FieldError("lines", "Add at least one line: what is being ordered.")
    if len(lines) > MAX_ORDER_LINES:
        raise FieldError(
            "lines", f"A part order can have at most {MAX_ORDER_LINES} lines; split the order."
        )
    supplier = _check_details(details)
    checked = [_check_line(n, line) for n, line in enumerate(lines)]
    with acting(actor):
        order = PartOrder(incident=incident, supplier=supplier, created_by=actor)
        _apply_details(order, details)
        db.session.add(order)
        for line in checked:
            db.session.add(PartOrderLine(part_order=order, **line))
        db.session.flush()
    return order


def update_part_order(order: PartOrder, details: OrderDetails, *, actor: User) -> None:
    """Change the supplier's dates, PO number and return terms (e.g. a new delivery date)."""
    if order.status in (PartOrderStatus.INSTALLED, PartOrderStatus.CANCELLED):
        raise DomainError(f"{order} is {order.status.label.lower()}; it can no longer change.")
    order.supplier = _check_details(details)
    with acting(actor):
        _apply_details(order, details)
        db.session.flush()


def change_part_order_status(
    order: PartOrder, status: PartOrderStatus, *, actor: User, today: date | None = None
) -> None:
    """Move a part order along PART_ORDER_TRANSITIONS; placing it needs a PO number and dates."""
    today = today or date.today()
    if status not in PART_ORDER_TRANSITIONS[order.status]:
        raise InvalidTransition(
            f"{order} is {order.status.label.lower()}; it cannot become {status.label.lower()}."
        )
    if status is PartOrderStatus.ORDERED and not (order.po_number and order.expected_on):
        raise FieldError(
            "status", "Enter the PO number and expected delivery date before marking it ordered."
        )
    with acting(actor):
        order.status = status
        if status is PartOrderStatus.ORDERED and order.ordered_on is None:
            order.ordered_on = today
        if status is PartOrderStatus.RECEIVED:
            order.received_on = today
        db.session.flush()


def _check_details(details: OrderDetails) -> Supplier:
    supplier = db.session.get(Supplier, details.supplier_id)
    if supplier is None or not supplier.active:
        raise FieldError("supplier_id", "Choose an active supplier.")
    RETURN_WINDOW_DAYS.check("return_window_days", details.return_window_days)
    named(PERCENTAGE, "Restocking fee").check("restocking_fee_pct", details.restocking_fee_pct)
    today = utcnow().date()
    window(PLANNED, "Ordered on").check("ordered_on", details.ordered_on, today)
    window(PLANNED, "Expected delivery").check("expected_on", details.expected_on, today)
    if details.ordered_on and details.expected_on and details.expected_on < details.ordered_on:
        raise FieldError("expected_on", "Delivery cannot be expected before the order date.")
    return supplier


def _apply_details(order: PartOrder, details: OrderDetails) -> None:
    order.po_number = (details.po_number or "").strip() or None
    order.ordered_on = details.ordered_on
    order.expected_on = details.expected_on
    order.return_window_days = details.return_window_days
    order.restocking_fee_pct = details.restocking_fee_pct


def _check_line(n: int, line: OrderLineInput) -> dict[str, Any]:
    field = f"lines-{n}"
    part = None
    if line.part_id is not None:
        part = db.session.get(Part, line.part_id)
        if part is None:
            raise FieldError(field, f"Line {n + 1}: choose a part from the catalogue.")
    # A catalogue part fills what was left empty; what was typed stays as typed.
    description = (line.description or "").strip() or (part.description if part else "")
    if not description:
        raise FieldError(field, f"Line {n + 1}: say what is ordered.")
    unit_cost = line.unit_cost
    if unit_cost is None:
        unit_cost = part.list_price if part else Decimal("0")
    prefix = f"Line {n + 1}: "
    QUANTITY.check(field, line.quantity, prefix)
    named(MONEY, "Unit cost").check(field, unit_cost, prefix)
    named(PERCENTAGE, "Discount").check(field, line.discount_pct, prefix)
    return {
        "part": part,
        "description": description,
        "quantity": line.quantity,
        "unit_cost": unit_cost,
        "discount_pct": line.discount_pct,
    }


def at_risk_orders(incident: Incident) -> list[PartOrder]:
    """Orders placed for the incident and not yet used: money spent before a yes."""
    return [order for order in incident.part_orders if order.status in COMMITTED_STATUSES]


# --- part orders as the incident page shows them --------------------------------------------

# What a page asks of a part order line and of an order beside their columns: the models'
# own rules (a line's net cost, an order's net cost, restocking fee and return deadline),
# so plain records and mapped rows come to the same figures.
ORDER_LINE_METHODS = ("__str__", "net_cost")
_ORDER_METHODS = ("__str__", "net_cost", "return_deadline", "restocking_fee")


def shown_part_orders(incident_id: int) -> list:
    """The incident's part orders, oldest first, as plain records (`plain_record_type`)
    with their `supplier` and `lines`: one statement, built once, for a page that only
    shows them."""
    statement, order_type, supplier_type, line_type = _shown_part_orders()
    supplier_at = len(order_type._fields) - 2  # the order's columns, then its supplier's
    line_at = supplier_at + len(supplier_type._fields)
    order_id, line_id = order_type._fields.index("id"), line_at + line_type._fields.index("id")
    found: dict[int, tuple[tuple, Any, list]] = {}
    for row in plain_rows(db.session(), statement, {"incident_id": incident_id}):
        order = found.get(row[order_id])
        if order is None:
            supplier = supplier_type._make(row[supplier_at:line_at])
            order = found[row[order_id]] = (row[:supplier_at], supplier, [])
        if row[line_id] is not None:
            order[2].append(line_type._make(row[line_at:]))
    return [
        order_type._make((*columns, supplier, tuple(lines)))
        for columns, supplier, lines in found.values()
    ]


@cache
def _shown_part_orders() -> tuple[Select, type, type, type]:
    statement = (
        select(
            *plain_columns(PartOrder, "order_"),
            *plain_columns(Supplier, "supplier_"),
            *plain_columns(PartOrderLine, "line_"),
        )
        .join(Supplier, Supplier.id == PartOrder.supplier_id)
        .outerjoin(PartOrderLine, PartOrderLine.part_order_id == PartOrder.id)
        .where(PartOrder.incident_id == bindparam("incident_id"))
        .order_by(PartOrder.id, PartOrderLine.id)
    )
    return (
        statement,
        plain_record_type(PartOrder, _ORDER_METHODS, ("supplier", "lines")),
        plain_record_type(Supplier, ("__str__",)),
        plain_record_type(PartOrderLine, ORDER_LINE_METHODS),
    )
