"""What the cost reports count, kept where a period is cheap to read."""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, LargeBinary, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from fieldsvc.database import str_enum
from fieldsvc.extensions import db
from fieldsvc.incidents.models import CauseCategory
from fieldsvc.portal.models import ResponseKind


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


class MonthFigures:
    """What a month row adds up (`months.FIGURES`): the accepted revisions and their
    money, the same columns in `report_months`, `team_months` and `customer_months`."""

    revisions: Mapped[int]
    we_absorb: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    customer_pays: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    customer_tax: Mapped[Decimal] = mapped_column(Numeric(16, 2))


class ReportMonth(MonthFigures, db.Model):
    """The cost entries of one customer's calendar month (in the company's time zone),
    added up by what the reports group them by, so a long period reads a row per month
    instead of every accepted revision.

    The incidents a period counts are counted once each: an entry counts its incident
    when the incident's acceptance before it (`previous_accepted_at`) lies before the
    period (or there is none), so the rows keep that time apart; nearly all are None.
    Derived, never edited: kept from the cost entries by the flush hook, in the zone
    named in `report_months_zone` (rollups.py), checked by `flask reports verify`.
    """

    __tablename__ = "report_months"
    __table_args__ = (
        # A team's months: one range per customer, answered by the index alone.
        Index(
            "ix_report_months_period",
            "customer_id",
            "month",
            "cause_category",
            "technician_id",
            "previous_accepted_at",
            "revisions",
            "we_absorb",
            "customer_pays",
            "customer_tax",
        ),
        CheckConstraint("revisions > 0", name="revisions_counted"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    month: Mapped[date]  # its first day
    technician_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    cause_category: Mapped[CauseCategory] = mapped_column(str_enum(CauseCategory))
    previous_accepted_at: Mapped[datetime | None]


class ReportMonthsZone(db.Model):
    """The time zone whose calendar months `report_months` holds (one row): the reports
    read the months only while it is the company's; `flask reports rebuild` adds them up
    again after the company's zone changed."""

    __tablename__ = "report_months_zone"

    zone: Mapped[str] = mapped_column(String(64), primary_key=True)


class TeamMonth(MonthFigures, db.Model):
    """The month rows of the customers a team serves, added up by team: what the cost
    report groups by month, technician and cause reads for a team's period, a row per
    month and technician and cause, however many customers the team serves. An admin
    reads every team's rows (and those of customers no team serves: `team_id` None).

    Derived, never edited: added up from `report_months` in the same flush, and again
    for every month of both teams when a customer moves to another team (months.py);
    checked by `flask reports verify`.
    """

    __tablename__ = "team_months"
    __table_args__ = (
        # A team's months: one range, answered by the index alone.
        Index(
            "ix_team_months_period",
            "team_id",
            "month",
            "cause_category",
            "technician_id",
            "previous_accepted_at",
            "revisions",
            "we_absorb",
            "customer_pays",
            "customer_tax",
        ),
        CheckConstraint("revisions > 0", name="revisions_counted"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    month: Mapped[date]  # its first day
    technician_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    cause_category: Mapped[CauseCategory] = mapped_column(str_enum(CauseCategory))
    previous_accepted_at: Mapped[datetime | None]


class CustomerMonth(MonthFigures, db.Model):
    """A customer's month rows added up, whatever the technician and cause: what the cost
    report groups by customer reads for a period, a row per customer and month (and per
    earlier acceptance, which the counting of incidents needs: nearly all None) instead
    of one per technician and cause as well.

    Derived, never edited: added up from `report_months` in the same flush, for the same
    customers and months (months.py); checked by `flask reports verify`.
    """

    __tablename__ = "customer_months"
    __table_args__ = (
        # A team's months: one range per customer, answered by the index alone.
        Index(
            "ix_customer_months_period",
            "customer_id",
            "month",
            "previous_accepted_at",
            "revisions",
            "we_absorb",
            "customer_pays",
            "customer_tax",
        ),
        CheckConstraint("revisions > 0", name="revisions_counted"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    month: Mapped[date]  # its first day
    previous_accepted_at: Mapped[datetime | None]


class TeamMonthCount(db.Model):
    """How many incidents a team's customers reported in a calendar month (in the zone
    named in `report_months_zone`) with one cause, or how many answers of one kind they
    gave that month: the dashboard reads a row per month and cause (or kind) for the
    whole months of its windows, however many incidents and answers they hold. A row
    counts either incidents (`cause_category`) or answers (`answer_kind`); an admin reads
    every team's rows (and those of customers no team serves: `team_id` None).

    Derived, never edited: counted again from the incidents and answers for the teams and
    months a flush changed, and for every month of both teams when a customer moves to
    another (months.py); checked by `flask reports verify`.
    """

    __tablename__ = "team_month_counts"
    __table_args__ = (
        # A team's months: one range, answered by the index alone.
        Index(
            "ix_team_month_counts_period",
            "team_id",
            "month",
            "cause_category",
            "answer_kind",
            "counted",
        ),
        CheckConstraint("counted > 0", name="something_counted"),
        CheckConstraint(
            "(cause_category IS NULL) <> (answer_kind IS NULL)", name="incidents_or_answers"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    month: Mapped[date]  # its first day
    # Incidents reported that month with this cause (None: the row counts answers).
    cause_category: Mapped[CauseCategory | None] = mapped_column(str_enum(CauseCategory))
    # Answers given that month of this kind (None: the row counts incidents).
    answer_kind: Mapped[ResponseKind | None] = mapped_column(str_enum(ResponseKind))
    counted: Mapped[int]


class TeamMonthSteps(db.Model):
    """Each response-time step's hours of the incidents reported in one calendar month
    (in the zone named in `report_months_zone`) by the customers a team serves (`team_id`
    None: customers no team serves), sorted: the response-time report reads a row per
    whole month of its period and merges them, instead of every incident of the period.

    Each step is the bytes of its hours as 8-byte IEEE doubles, little-endian whatever
    the machine (steps.py): exactly the floats the incidents hold, to the bit, so the
    percentiles come out as if read from the incidents, and the same bytes on any
    server that reads the database. Empty bytes: no incident of the month reached it.

    Derived, never edited: written from the incidents in the same flush that changes
    their hours, time or customer, and again for every month of both teams when a
    customer moves to another team (steps.py); checked by `flask reports verify`.
    """

    __tablename__ = "team_month_steps"
    __table_args__ = (Index("ix_team_month_steps_period", "team_id", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    month: Mapped[date]  # its first day
    # One per step of rollups.STEP_COLUMNS, named after it.
    reported_to_sent_hours: Mapped[bytes] = mapped_column(LargeBinary)
    sent_to_accepted_hours: Mapped[bytes] = mapped_column(LargeBinary)
    accepted_to_resolved_hours: Mapped[bytes] = mapped_column(LargeBinary)
    reported_to_resolved_hours: Mapped[bytes] = mapped_column(LargeBinary)
