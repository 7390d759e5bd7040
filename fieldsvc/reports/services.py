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

Sums and counts are done by the database (GROUP BY); a report's number of queries
does not depend on the number of incidents.
"""

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from itertools import pairwise

from sqlalchemy import Select, and_, case, distinct, func, literal, or_, select, union_all

from fieldsvc import clock
from fieldsvc.auth.models import User
from fieldsvc.customers.models import Customer
from fieldsvc.errors import FieldError
from fieldsvc.extensions import db
from fieldsvc.incidents.models import Incident, IncidentStatus
from fieldsvc.incidents.services import (
    IncidentFilters,
    IncidentRow,
    customers_visible_to,
    incidents_visible_to,
    list_incidents,
)
from fieldsvc.money import to_money
from fieldsvc.reports.models import CostEntry

EARLIEST = date(2000, 1, 1)
LONGEST_YEARS = 10
REPORTED_BY_CUSTOMER = "Reported by the customer"
RESOLVED_STATUSES = (IncidentStatus.RESOLVED, IncidentStatus.CLOSED)


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


def _accepted_revisions(user: User, period: Period, month_starts: Sequence[date] = ()):
    """One row per revision of a visible incident accepted in the period, with the
    incident's customer, technician and cause, and (given `month_starts`) the local
    month of the acceptance: read from the kept cost entries (rollups.py), the period's
    range of their index and nothing older."""
    accepted_at = CostEntry.accepted_at
    columns = [
        CostEntry.incident_id.label("incident_id"),
        CostEntry.customer_id.label("customer_id"),
        CostEntry.technician_id.label("technician_id"),
        CostEntry.cause_category.label("cause"),
        CostEntry.we_absorb.label("we_absorb"),
        CostEntry.customer_pays.label("customer_pays"),
        CostEntry.customer_tax.label("customer_tax"),
    ]
    if month_starts:
        # The company's month boundaries as UTC instants: right across daylight saving
        # time, and the same SQL on SQLite (which has no time zones) and PostgreSQL.
        month = literal(_month_key(month_starts[-1]))
        if len(month_starts) > 1:
            month = case(
                *[
                    (accepted_at < _local_midnight(following), _month_key(current))
                    for current, following in pairwise(month_starts)
                ],
                else_=month,
            )
        columns.append(month.label("month"))
    visible = select(Customer.id).where(customers_visible_to(user))
    return (
        select(*columns)
        .where(
            accepted_at >= period.start,
            accepted_at < period.end,
            CostEntry.customer_id.in_(visible),
        )
        .subquery("accepted")
    )


def _month_key(month: date) -> str:
    return f"{month:%Y-%m}"


def _measures(accepted) -> list:
    return [
        func.count(distinct(accepted.c.incident_id)).label("incidents"),
        func.coalesce(func.sum(accepted.c.we_absorb), 0).label("we_absorbed"),
        func.coalesce(func.sum(accepted.c.customer_pays), 0).label("customer_paid"),
        func.coalesce(func.sum(accepted.c.customer_tax), 0).label("customer_tax"),
    ]


def _cost_row(label: str, row) -> CostRow:
    return CostRow(
        label=label,
        incidents=int(row.incidents),
        we_absorbed=to_money(row.we_absorbed),
        customer_paid=to_money(row.customer_paid),
        customer_tax=to_money(row.customer_tax),
    )


def cost_of_incidents(user: User, period: Period, grouping: CostGrouping) -> list[CostRow]:
    """What the incidents `user` may see cost in the period, grouped: months in order
    (every month of the period, empty ones too), the others by absorbed, largest first."""
    if grouping is CostGrouping.MONTH:
        months = period.months()
        accepted = _accepted_revisions(user, period, months)
        found = {
            row.month: row
            for row in db.session.execute(
                select(accepted.c.month, *_measures(accepted)).group_by(accepted.c.month)
            )
        }
        nothing = to_money(0)
        return [
            _cost_row(key, found[key])
            if key in found
            else CostRow(key, 0, nothing, nothing, nothing)
            for key in map(_month_key, months)
        ]
    accepted = _accepted_revisions(user, period)
    stmt: Select
    if grouping is CostGrouping.CUSTOMER:
        stmt = (
            select(Customer.name.label("name"), *_measures(accepted))
            .select_from(accepted)
            .join(Customer, Customer.id == accepted.c.customer_id)
            .group_by(accepted.c.customer_id, Customer.name)
        )
    elif grouping is CostGrouping.TECHNICIAN:
        stmt = (
            select(User.name.label("name"), *_measures(accepted))
            .select_from(accepted)
            .outerjoin(User, User.id == accepted.c.technician_id)
            .group_by(accepted.c.technician_id, User.name)
        )
    else:
        stmt = select(accepted.c.cause.label("name"), *_measures(accepted)).group_by(
            accepted.c.cause
        )
    rows = [_cost_row(_group_label(grouping, row.name), row) for row in db.session.execute(stmt)]
    return sorted(rows, key=lambda row: (-row.we_absorbed, row.label))


def _group_label(grouping: CostGrouping, name) -> str:
    if grouping is CostGrouping.CAUSE:
        return name.label
    if grouping is CostGrouping.TECHNICIAN and name is None:
        return REPORTED_BY_CUSTOMER
    return name


def cost_total(user: User, period: Period) -> CostRow:
    """All the period's accepted revisions together; each incident counted once."""
    accepted = _accepted_revisions(user, period)
    return _cost_row("Total", db.session.execute(select(*_measures(accepted))).one())


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
    ordered = sorted(values)
    return _interpolated(len(ordered), dict(enumerate(ordered)), fraction)


FRACTIONS = (0.5, 0.9)


def _interpolated(count: int, ranked: Mapping[int, float], fraction: float) -> float | None:
    """The percentile of `count` values from those at the two ranks (0 = smallest) it
    lies between: `ranked` holds at least those."""
    if not count:
        return None
    position = (count - 1) * fraction
    below = math.floor(position)
    above = min(below + 1, count - 1)
    return ranked[below] + (position - below) * (ranked[above] - ranked[below])


def _near_percentile(rank, count, fraction: float):
    """SQL: `rank` is one of the two ranks the `fraction` percentile of `count` values
    interpolates between, floor((count - 1) * fraction) and the next one. In integer
    arithmetic (fraction = tenths / 10), so SQLite and PostgreSQL agree with Python."""
    tenths = round(fraction * 10)
    assert tenths / 10 == fraction  # 0.5, 0.9: the reports' percentiles
    # below <= (count - 1) * tenths / 10 < below + 1, for below = rank or rank - 1
    return and_(
        10 * (rank - 1) <= tenths * (count - 1),
        tenths * (count - 1) < 10 * (rank + 1),
    )


def response_times(user: User, period: Period) -> list[StepTimes]:
    """Median and 90th percentile of each step, for incidents reported in the period.

    Each incident keeps its first sending and first acceptance (rollups.py), so the
    period's incidents are one range of an index that holds every time needed; the
    database ranks each step's durations and returns only the count and the values
    at the ranks the percentiles interpolate between."""
    # A reopened incident keeps the resolved_at of its earlier resolution: it counts
    # as resolved only while it is resolved or closed.
    resolved = case((Incident.status.in_(RESOLVED_STATUSES), Incident.resolved_at))
    hours = _hours_between_in_sql(db.session.get_bind().dialect.name)
    reported, sent, accepted = (
        Incident.created_at,
        Incident.first_sent_at,
        Incident.first_accepted_at,
    )
    durations = [
        hours(reported, sent),
        hours(sent, accepted),
        hours(accepted, resolved),
        hours(reported, resolved),
    ]
    times = (
        select(*(value.label(f"step{n}") for n, value in enumerate(durations)))
        .where(
            incidents_visible_to(user),
            Incident.created_at >= period.start,
            Incident.created_at < period.end,
        )
        .cte("times")
    )
    ranked_steps = []
    for n in range(len(STEPS)):
        value = times.c[f"step{n}"]
        ranked = (
            select(
                literal(n).label("step"),
                value.label("hours"),
                (func.row_number().over(order_by=value) - 1).label("rank"),
                func.count().over().label("count"),
            )
            .where(value.is_not(None))
            .subquery(f"ranked{n}")
        )
        ranked_steps.append(
            select(ranked).where(
                or_(*(_near_percentile(ranked.c.rank, ranked.c.count, f) for f in FRACTIONS))
            )
        )
    counts: dict[int, int] = {}
    values: dict[int, dict[int, float]] = {n: {} for n in range(len(STEPS))}
    for step, value, rank, count in db.session.execute(union_all(*ranked_steps)):
        counts[step] = count
        values[step][rank] = float(value)
    return [
        StepTimes(
            name,
            counts.get(n, 0),
            *(_interpolated(counts.get(n, 0), values[n], fraction) for fraction in FRACTIONS),
        )
        for n, name in enumerate(STEPS)
    ]


def _hours_between_in_sql(dialect: str):
    """SQL for the hours from one timestamp column to another (NULL if either is)."""
    if dialect == "sqlite":
        return lambda begin, end: (func.julianday(end) - func.julianday(begin)) * 24
    return lambda begin, end: func.extract("epoch", end - begin) / 3600


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
