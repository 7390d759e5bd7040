"""What incidents cost and how fast we answer them, for supervisors.

Definitions (the dashboard uses the same):

- The cost of an incident is in its *accepted* revisions, whose figures were frozen
  when they were sent: we absorbed the sum of their `we_absorb`; the customer paid the
  sum of their `customer_pays` (before tax) and `customer_tax`. It is dated by the
  acceptance (`CustomerResponse.created_at`), taken in the company's time zone.
- The technician is whoever recorded the incident (`Incident.created_by`); incidents
  the customer reported on their status page have none.
- Response times follow an incident from reported (`created_at`) to its first
  proposal sent (earliest `sent_at`), to accepted (its first acceptance) and to
  resolved (`resolved_at`, while the incident is resolved or closed), over the
  incidents reported in the period that reached each step. Percentiles interpolate
  linearly between the two nearest ranks (as PostgreSQL's `percentile_cont`,
  NumPy's default and spreadsheets' PERCENTILE.INC do).

What the reports need is kept where a period is cheap to read (rollups.py): one
cost entry per accepted revision, and each incident's response times, both in indexes
that start with the customer, so a team's period is one range per customer and none
of the history before it is read. A report's number of queries does not depend on the
number of incidents; money is added up as Decimal, exactly.
"""

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import ColumnElement, String, select, type_coerce, union_all

from fieldsvc import clock
from fieldsvc.auth.models import User
from fieldsvc.customers.models import Customer
from fieldsvc.errors import FieldError
from fieldsvc.extensions import db
from fieldsvc.incidents.models import CauseCategory, Incident
from fieldsvc.incidents.services import (
    IncidentFilters,
    IncidentRow,
    customers_visible_to,
    list_incidents,
)
from fieldsvc.money import to_money
from fieldsvc.reports import months as kept_months
from fieldsvc.reports import rollups
from fieldsvc.reports.models import CostEntry, ReportMonth

EARLIEST = date(2000, 1, 1)
LONGEST_YEARS = 10
REPORTED_BY_CUSTOMER = "Reported by the customer"


# --- the period a report covers ----------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Whole days in the company's time zone, `first` to `last` included."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return _local_midnight(self.first)

    @property
    def end(self) -> datetime:
        """The first moment after the period (exclusive)."""
        return _local_midnight(self.last + timedelta(days=1))

    def months(self) -> list[date]:
        """The first day of each calendar month the period touches."""
        month, months = self.first.replace(day=1), []
        while month <= self.last:
            months.append(month)
            month = next_month(month)
        return months


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=clock.company_zone())


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def default_first_day(last: date) -> date:
    """Twelve calendar months ending with `last`'s month."""
    month = last.replace(day=1)
    for _ in range(11):
        month = (month - timedelta(days=1)).replace(day=1)
    return month


def report_period(first: date | None, last: date | None, *, today: date) -> Period:
    """The period asked for, the last twelve months by default; a reversed or absurd
    range is refused with the field to correct (FieldError "from" or "to")."""
    last = last or today
    first = first or default_first_day(last)
    earliest = f"Reports start on {EARLIEST.day} {EARLIEST:%B %Y} at the earliest."
    if first < EARLIEST:
        raise FieldError("from", earliest)
    if last < EARLIEST:
        raise FieldError("to", earliest)
    if first > last:
        raise FieldError(
            "from",
            f"“From” ({first:%Y-%m-%d}) is after “to” ({last:%Y-%m-%d}): swap the two dates.",
        )
    if last > _add_years(today, 1):
        raise FieldError("to", f"“To” ({last:%Y-%m-%d}) is more than a year from today.")
    if last >= _add_years(first, LONGEST_YEARS):
        raise FieldError(
            "to",
            f"Choose at most {LONGEST_YEARS} years: {first:%Y-%m-%d} to {last:%Y-%m-%d} is longer.",
        )
    return Period(first, last)


# --- cost of incidents -------------------------------------------------------------------


class CostGrouping(StrEnum):
    MONTH = "month"
    CUSTOMER = "customer"
    TECHNICIAN = "technician"
    CAUSE = "cause"

    @property
    def label(self) -> str:
        return {"cause": "Cause (internal)"}.get(self.value, self.value.capitalize())


@dataclass(frozen=True)
class CostRow:
    label: str
    incidents: int
    we_absorbed: Decimal
    customer_paid: Decimal
    customer_tax: Decimal


@dataclass(frozen=True)
class Costs:
    """The cost of incidents in a period, in each grouping, and all together."""

    groupings: dict[CostGrouping, list[CostRow]]
    total: CostRow


class _Sum:
    """Accepted revisions added up: money in whole cents, and each incident counted once,
    by the one entry that brings it into the sum (months.py)."""

    __slots__ = ("absorbed", "incidents", "paid", "tax")

    def __init__(self) -> None:
        self.incidents = self.absorbed = self.paid = self.tax = 0

    def add(self, incidents: int, absorbed: int, paid: int, tax: int) -> None:
        self.incidents += incidents
        self.absorbed += absorbed
        self.paid += paid
        self.tax += tax

    def row(self, label: str) -> CostRow:
        cents = (Decimal(self.absorbed), Decimal(self.paid), Decimal(self.tax))
        return CostRow(label, self.incidents, *(to_money(value / 100) for value in cents))


def _cents(amount: Decimal | None) -> int:
    """An amount of money (2 decimals) as whole cents, exactly."""
    return int((amount or 0) * 100)


def whole_months(period: Period) -> list[date]:
    """The calendar months that lie entirely in the period (first days)."""
    return [
        month
        for month in period.months()
        if month >= period.first and next_month(month) - timedelta(days=1) <= period.last
    ]


def costs(user: User, period: Period) -> Costs:
    """What the incidents `user` may see cost in the period, in every grouping: months in
    order (every month of the period, empty ones too), the others by absorbed, largest
    first. The whole months of the period are read from the month rows, the days before
    and after them from the cost entries (months.py, rollups.py): for each visible
    customer, ranges of their indexes, nothing older; added up here in whole cents."""
    zone = clock.company_zone()
    connection = db.session.connection()
    whole = whole_months(period)
    if whole and kept_months.zone_added_up_in(connection) != zone.key:
        whole = []  # added up in another zone: the entries give the same figures
    if whole:
        inside = (_local_midnight(whole[0]), _local_midnight(next_month(whole[-1])))
        edges = [(period.start, inside[0]), (inside[1], period.end)]
    else:
        edges = [(period.start, period.end)]
    edges = [(begin, end) for begin, end in edges if begin < end]
    visible = of_visible_customers(CostEntry.customer_id, user)
    rows = []
    if edges:
        # Each entry: its month, its figures, and whether it is its incident's first
        # in the period and in its month.
        previous = kept_months.previous_acceptance()
        entries = (
            select(
                CostEntry.accepted_at,
                CostEntry.customer_id,
                Customer.name,
                CostEntry.technician_id,
                User.name,
                type_coerce(CostEntry.cause_category, String),
                previous,
                CostEntry.we_absorb,
                CostEntry.customer_pays,
                CostEntry.customer_tax,
            )
            .join(Customer, Customer.id == CostEntry.customer_id)
            .outerjoin(User, User.id == CostEntry.technician_id)
            .where(visible)
        )
        # One range of the index per edge and customer (an OR of the two would read
        # the customers' whole history on SQLite).
        ranges = [
            entries.where(CostEntry.accepted_at >= begin, CostEntry.accepted_at < end)
            for begin, end in edges
        ]
        for (
            at,
            customer,
            customer_name,
            technician,
            technician_name,
            cause,
            before,
            *money,
        ) in connection.execute(union_all(*ranges) if len(ranges) > 1 else ranges[0]):
            month = kept_months.month_of(at, zone)
            month_begins = max(period.start, _local_midnight(month))
            rows.append(
                (
                    month,
                    customer,
                    customer_name,
                    technician,
                    technician_name,
                    cause,
                    int(before is None or before < period.start),
                    int(before is None or before < month_begins),
                    *(_cents(amount) for amount in money),
                )
            )
    if whole:
        for (
            month,
            customer,
            customer_name,
            technician,
            technician_name,
            cause,
            before,
            count,
            *money,
        ) in connection.execute(
            select(
                ReportMonth.month,
                ReportMonth.customer_id,
                Customer.name,
                ReportMonth.technician_id,
                User.name,
                type_coerce(ReportMonth.cause_category, String),
                ReportMonth.previous_accepted_at,
                ReportMonth.revisions,
                ReportMonth.we_absorb,
                ReportMonth.customer_pays,
                ReportMonth.customer_tax,
            )
            .join(Customer, Customer.id == ReportMonth.customer_id)
            .outerjoin(User, User.id == ReportMonth.technician_id)
            .where(
                of_visible_customers(ReportMonth.customer_id, user),
                ReportMonth.month >= whole[0],
                ReportMonth.month <= whole[-1],
            )
        ):
            rows.append(
                (
                    month,
                    customer,
                    customer_name,
                    technician,
                    technician_name,
                    cause,
                    count if before is None or before < period.start else 0,
                    count if before is None or before < _local_midnight(month) else 0,
                    *(_cents(amount) for amount in money),
                )
            )
    return _grouped(period, rows)


def _grouped(period: Period, rows: list[tuple]) -> Costs:
    months = {_month_key(start): _Sum() for start in period.months()}
    customers: dict[int, _Sum] = {}
    technicians: dict[int | None, _Sum] = {}
    causes: dict[str, _Sum] = {}
    names: dict[tuple, str] = {}
    total = _Sum()
    for (
        month,
        customer,
        customer_name,
        technician,
        technician_name,
        cause,
        in_period,
        in_month,
        *money,
    ) in rows:
        figures = (in_period, *money)
        total.add(*figures)
        months[_month_key(month)].add(in_month, *money)
        for groups, group in ((customers, customer), (technicians, technician), (causes, cause)):
            if group not in groups:
                groups[group] = _Sum()
            groups[group].add(*figures)
        names[CostGrouping.CUSTOMER, customer] = customer_name
        names[CostGrouping.TECHNICIAN, technician] = technician_name or REPORTED_BY_CUSTOMER
    names.update({(CostGrouping.CAUSE, cause): CauseCategory(cause).label for cause in causes})
    result = {CostGrouping.MONTH: [figures.row(key) for key, figures in months.items()]}
    for grouping, groups in (
        (CostGrouping.CUSTOMER, customers),
        (CostGrouping.TECHNICIAN, technicians),
        (CostGrouping.CAUSE, causes),
    ):
        rows = [figures.row(names[grouping, key]) for key, figures in groups.items()]
        result[grouping] = sorted(rows, key=lambda row: (-row.we_absorbed, row.label))
    return Costs(groupings=result, total=total.row("Total"))


def _month_key(month: date) -> str:
    return f"{month:%Y-%m}"


def cost_of_incidents(user: User, period: Period, grouping: CostGrouping) -> list[CostRow]:
    """One grouping of `costs`."""
    return costs(user, period).groupings[grouping]


def cost_total(user: User, period: Period) -> CostRow:
    """All the period's accepted revisions together; each incident counted once."""
    return costs(user, period).total


# --- response times -----------------------------------------------------------------------


@dataclass(frozen=True)
class StepTimes:
    """How long one step took, in hours, over the incidents that reached it."""

    step: str
    incidents: int
    median_hours: float | None
    p90_hours: float | None


STEPS = (
    "Reported → first proposal sent",
    "Proposal sent → accepted",
    "Accepted → resolved",
    "Reported → resolved (whole way)",
)


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The `fraction` (0 to 1) percentile of `values`, interpolated linearly between the
    closest ranks; None for no values."""
    return _percentile(sorted(values), fraction)


def _percentile(ordered: Sequence[float], fraction: float) -> float | None:
    """`percentile` of values already in order."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * fraction
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (position - below) * (ordered[above] - ordered[below])


def response_times(user: User, period: Period) -> list[StepTimes]:
    """Median and 90th percentile of each step, for incidents reported in the period.

    Each incident keeps its steps' hours (rollups.py, worked out by the database from
    its dates as this report always did), so the visible customers' incidents of the
    period are ranges of one index that holds them: no proposal or answer is read."""
    steps = [Incident.__table__.c[name] for name in rollups.STEP_COLUMNS]
    # Plain rows (no ORM): a year of a team's incidents is thousands of them.
    rows = (
        db.session.connection()
        .execute(
            select(*steps).where(
                of_visible_customers(Incident.customer_id, user),
                Incident.created_at >= period.start,
                Incident.created_at < period.end,
            )
        )
        .all()
    )
    durations = [
        sorted(value for value in column if value is not None)
        for column in (zip(*rows, strict=True) if rows else [()] * len(STEPS))
    ]
    return [
        StepTimes(name, len(values), _percentile(values, 0.5), _percentile(values, 0.9))
        for name, values in zip(STEPS, durations, strict=True)
    ]


def of_visible_customers(column, user: User) -> ColumnElement[bool]:
    """A condition on a customer id column: a customer whose incidents `user` may see.
    For the kept figures, whose indexes start with the customer: one range per customer
    of the team (all customers for an admin) instead of everyone's history."""
    return column.in_(select(Customer.id).where(customers_visible_to(user)))


# --- the incident list, for export --------------------------------------------------------


INCIDENT_BATCH = 500


def matching_incidents(
    user: User, filters: IncidentFilters, *, now: datetime
) -> Iterator[IncidentRow]:
    """Every incident the list shows with these filters, newest first: read through the
    list's own query in batches, so an export matches the list and memory stays flat."""
    before: int | None = None
    while True:
        rows, before = list_incidents(
            user, filters, before_id=before, limit=INCIDENT_BATCH, now=now
        )
        yield from rows
        for row in rows:
            db.session.expunge(row.incident)  # with its equipment links
        if before is None:
            return
