from decimal import Decimal

from sqlalchemy import CheckConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fieldsvc.audit.models import Audited
from fieldsvc.extensions import db


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
    __table_args__ = (CheckConstraint("list_price >= 0", name="list_price_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(60), unique=True)
    description: Mapped[str] = mapped_column(String(300))
    list_price: Mapped[Decimal]
    active: Mapped[bool] = mapped_column(default=True, index=True)

    def __str__(self) -> str:
        return f"{self.number} {self.description}"
