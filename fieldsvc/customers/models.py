from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fieldsvc.audit.models import Audited
from fieldsvc.extensions import db
from fieldsvc.ranges import calendar_constraint

if TYPE_CHECKING:
    from fieldsvc.auth.models import Team

EXTERNAL_ID_MAX = 100


def external_id_column():
    """The record's id in the company's ERP or CMMS: one company per installation, so an
    external id names at most one record of its kind, and a sync finds it again."""
    return mapped_column(String(EXTERNAL_ID_MAX), unique=True)


class Customer(Audited, db.Model):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    notes: Mapped[str | None] = mapped_column(Text)
    # The team that serves this customer sees its incidents (see incidents.access).
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True, index=True)
    external_id: Mapped[str | None] = external_id_column()

    team: Mapped["Team | None"] = relationship()
    sites: Mapped[list["Site"]] = relationship(back_populates="customer", order_by="Site.name")
    contacts: Mapped[list["Contact"]] = relationship(
        back_populates="customer", order_by="Contact.name"
    )

    def __str__(self) -> str:
        return self.name


class Site(Audited, db.Model):
    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    address: Mapped[str] = mapped_column(Text)
    # An IANA name like America/New_York; None: the company's. Customers read times in it.
    time_zone: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(default=True, index=True)
    external_id: Mapped[str | None] = external_id_column()

    customer: Mapped[Customer] = relationship(back_populates="sites")
    equipment: Mapped[list["Equipment"]] = relationship(
        back_populates="site", order_by="Equipment.tag"
    )

    @property
    def time_zone_label(self) -> str:
        return self.time_zone.replace("_", " ") if self.time_zone else "The company's"

    def __str__(self) -> str:
        return f"{self.customer.name} — {self.name}"


class Contact(Audited, db.Model):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(50))
    active: Mapped[bool] = mapped_column(default=True, index=True)
    external_id: Mapped[str | None] = external_id_column()

    customer: Mapped[Customer] = relationship(back_populates="contacts")

    def __str__(self) -> str:
        return self.name


class Equipment(Audited, db.Model):
    __tablename__ = "equipment"
    __table_args__ = (
        UniqueConstraint("site_id", "tag"),
        calendar_constraint("calibration_due_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    tag: Mapped[str] = mapped_column(String(60), index=True)
    serial: Mapped[str | None] = mapped_column(String(100))
    model: Mapped[str | None] = mapped_column(String(200))
    calibration_due_on: Mapped[date | None]
    active: Mapped[bool] = mapped_column(default=True, index=True)
    external_id: Mapped[str | None] = external_id_column()

    site: Mapped[Site] = relationship(back_populates="equipment")

    def __str__(self) -> str:
        return self.tag
