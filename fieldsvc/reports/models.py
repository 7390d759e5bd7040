"""What the cost reports count, kept where a period is cheap to read."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from fieldsvc.database import str_enum
from fieldsvc.extensions import db
from fieldsvc.incidents.models import CauseCategory


class CostEntry(db.Model):
    """One accepted revision as the cost reports count it: its frozen figures, when it
    was accepted, and its incident's customer, technician and cause.

    Derived, never edited: written from the facts (revisions, the customer's answers,
    the incident) on every flush that changes them (fieldsvc/reports/rollups.py), and
    checked against them by `flask reports verify`.
    """

    __tablename__ = "cost_entries"
    __table_args__ = (
        # Some customers' (a team's) entries of a period, with everything the reports
        # group and add up: the index alone answers them, reading only those entries.
        Index(
            "ix_cost_entries_period",
            "customer_id",
            "accepted_at",
            "cause_category",
            "technician_id",
            "incident_id",
            "we_absorb",
            "customer_pays",
            "customer_tax",
        ),
    )

    revision_id: Mapped[int] = mapped_column(
        ForeignKey("proposal_revisions.id"), primary_key=True, autoincrement=False
    )
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    # None: reported by the customer on their status page.
    technician_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    cause_category: Mapped[CauseCategory] = mapped_column(str_enum(CauseCategory))
    accepted_at: Mapped[datetime]
    we_absorb: Mapped[Decimal | None]
    customer_pays: Mapped[Decimal | None]
    customer_tax: Mapped[Decimal | None]
