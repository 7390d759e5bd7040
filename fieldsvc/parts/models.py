from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fieldsvc.audit.models import Audited
from fieldsvc.database import str_enum, utcnow
from fieldsvc.extensions import db
from fieldsvc.money import to_money
from fieldsvc.ranges import MONEY, PERCENTAGE, QUANTITY, RETURN_WINDOW_DAYS, calendar_constraint

if TYPE_CHECKING:
    from fieldsvc.auth.models import User
    from fieldsvc.incidents.models import Incident


class Supplier(Audited, db.Model):
    __tablename__ = "suppliers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(50))
    notes: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(default=True, index=True)

    def __str__(self) -> str:
        return self.name


class Part(Audited, db.Model):
    """A catalogue part: what we can order and at what list price."""

    __tablename__ = "parts"
    __table_args__ = (
        CheckConstraint("list_price >= 0", name="list_price_not_negative"),
        MONEY.constraint("list_price"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(60), unique=True)
    description: Mapped[str] = mapped_column(String(300))
    list_price: Mapped[Decimal] = mapped_column(info={"range": MONEY})
    active: Mapped[bool] = mapped_column(default=True, index=True)

    def __str__(self) -> str:
        return f"{self.number} {self.description}"


class PartOrderStatus(StrEnum):
    TO_ORDER = "to_order"
    ORDERED = "ordered"
    SHIPPED = "shipped"
    RECEIVED = "received"
    INSTALLED = "installed"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


P = PartOrderStatus
PART_ORDER_TRANSITIONS: dict[PartOrderStatus, set[PartOrderStatus]] = {
    P.TO_ORDER: {P.ORDERED, P.CANCELLED},
    P.ORDERED: {P.SHIPPED, P.RECEIVED, P.CANCELLED},
    P.SHIPPED: {P.RECEIVED, P.CANCELLED},
    # Cancelling a received order means sending the parts back.
    P.RECEIVED: {P.INSTALLED, P.CANCELLED},
    P.INSTALLED: set(),
    P.CANCELLED: set(),
}
# Ordered and on its way or here: what the send gate accepts as "the fix exists".
COMMITTED_STATUSES = frozenset({P.ORDERED, P.SHIPPED, P.RECEIVED})


class PartOrder(Audited, db.Model):
    """Parts bought from a supplier for an incident, often before the customer said yes."""

    __tablename__ = "part_orders"
    __table_args__ = (
        CheckConstraint(
            "restocking_fee_pct >= 0 AND restocking_fee_pct <= 100", name="restocking_fee_pct"
        ),
        CheckConstraint("return_window_days >= 0", name="return_window_not_negative"),
        RETURN_WINDOW_DAYS.constraint("return_window_days"),
        calendar_constraint("ordered_on"),
        calendar_constraint("expected_on"),
        calendar_constraint("received_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), index=True)
    status: Mapped[PartOrderStatus] = mapped_column(
        str_enum(PartOrderStatus), default=PartOrderStatus.TO_ORDER, index=True
    )
    po_number: Mapped[str | None] = mapped_column(String(60))
    ordered_on: Mapped[date | None]
    expected_on: Mapped[date | None] = mapped_column(index=True)
    received_on: Mapped[date | None]
    return_window_days: Mapped[int | None] = mapped_column(info={"range": RETURN_WINDOW_DAYS})
    restocking_fee_pct: Mapped[Decimal] = mapped_column(
        Numeric(5, 2), default=Decimal("0"), info={"range": PERCENTAGE}
    )
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    incident: Mapped["Incident"] = relationship(back_populates="part_orders")
    supplier: Mapped[Supplier] = relationship()
    created_by: Mapped["User"] = relationship()
    lines: Mapped[list["PartOrderLine"]] = relationship(
        back_populates="part_order", order_by="PartOrderLine.id"
    )

    @property
    def net_cost(self) -> Decimal:
        return sum((line.net_cost for line in self.lines), Decimal("0.00"))

    @property
    def return_deadline(self) -> date | None:
        """The last day the supplier takes the parts back (None: no returns or unknown)."""
        start = self.received_on or self.expected_on
        if self.return_window_days is None or start is None:
            return None
        return start + timedelta(days=self.return_window_days)

    @property
    def restocking_fee(self) -> Decimal:
        return to_money(self.net_cost * self.restocking_fee_pct / 100)

    def __str__(self) -> str:
        return self.po_number or f"Part order {self.id} (not yet ordered)"


class PartOrderLine(Audited, db.Model):
    __tablename__ = "part_order_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_cost >= 0", name="unit_cost_not_negative"),
        CheckConstraint("discount_pct >= 0 AND discount_pct <= 100", name="discount_pct"),
        QUANTITY.constraint("quantity"),
        MONEY.constraint("unit_cost"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    part_order_id: Mapped[int] = mapped_column(ForeignKey("part_orders.id"), index=True)
    part_id: Mapped[int | None] = mapped_column(ForeignKey("parts.id"))
    description: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[Decimal] = mapped_column(Numeric(10, 2), info={"range": QUANTITY})
    unit_cost: Mapped[Decimal] = mapped_column(info={"range": MONEY})
    discount_pct: Mapped[Decimal] = mapped_column(
        Numeric(5, 2), default=Decimal("0"), info={"range": PERCENTAGE}
    )

    part_order: Mapped[PartOrder] = relationship(back_populates="lines")
    part: Mapped[Part | None] = relationship()

    @property
    def net_cost(self) -> Decimal:
        return to_money(self.quantity * self.unit_cost * (100 - self.discount_pct) / 100)

    def __str__(self) -> str:
        return f"{self.quantity.normalize():f} × {self.description}"  # noqa: RUF001
