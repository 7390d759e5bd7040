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
of the history before it is read; their whole months are kept again by team and month
(the cost entries added up, months.py; the response hours sorted, steps.py). A report's
number of queries does not depend on the number of incidents; money is added up as
Decimal, exactly.
"""

import math
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache, partial

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Integer,
    LargeBinary,
    Select,
    String,
    bindparam,
    case,
    cast,
    false,
    func,
    literal,
    null,
    or_,
    select,
    true,
    type_coerce,
    union_all,
)

from fieldsvc import clock
from fieldsvc.auth.models import Role, User
from fieldsvc.customers.models import Customer
from fieldsvc.database import UTCDateTime
from fieldsvc.errors import FieldError
from fieldsvc.extensions import db
from fieldsvc.incidents.models import CauseCategory, Incident
from fieldsvc.incidents.queries import IncidentFilters, IncidentRow, list_incidents
from fieldsvc.incidents.services import customers_visible_to
from fieldsvc.money import to_money
from fieldsvc.reports import months as kept_months
from fieldsvc.reports import rollups
from fieldsvc.reports import steps as kept_steps
from fieldsvc.reports.models import (
    CostEntry,
    CustomerMonth,
    ReportMonthsZone,
    TeamMonth,
    TeamMonthSteps,
)

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


def _money_row(label: str, incidents: int, cents: Sequence[int]) -> CostRow:
    """A row of figures added up in whole cents, as money again."""
    return CostRow(label, incidents, *(to_money(Decimal(int(value)) / 100) for value in cents))


def whole_months(period: Period) -> list[date]:
    """The calendar months that lie entirely in the period (first days)."""
    return [
        month
        for month in period.months()
        if month >= period.first and next_month(month) - timedelta(days=1) <= period.last
    ]


MONEY = ("we_absorb", "customer_pays", "customer_tax")


def _counted(before: ColumnElement, count: ColumnElement, since: object) -> ColumnElement[int]:
    """`count` revisions count their incident when its acceptance before them (`before`)
    lies before `since`, or there is none (months.py): each incident is counted once."""
    return case((or_(before.is_(None), before < since), count), else_=0)


def _cost_rows(
    month: ColumnElement, source, count: ColumnElement, month_begins: ColumnElement
) -> Select:
    """Month rows or cost entries (`source`: the earlier acceptance as `before`, money,
    and the customer, technician and cause if it has them) as the rows the report adds
    up: their month, what they are grouped by, the incidents they count in the period and
    in their month, and their money in whole cents (exact on both databases)."""

    def column(name: str, type_):
        return source[name] if name in source else cast(null(), type_)

    return select(
        month.label("month"),
        column("customer_id", Integer).label("customer_id"),
        column("technician_id", Integer).label("technician_id"),
        type_coerce(column("cause_category", String), String).label("cause"),
        _counted(source.before, count, PERIOD_START).label("in_period"),
        _counted(source.before, count, month_begins).label("in_month"),
        *(
            cast(func.round(func.coalesce(source[name], 0) * 100), BigInteger).label(name)
            for name in MONEY
        ),
    )


# --- statements built once per kind of viewer and shape of period, values bound --------

TEAM = bindparam("team_id", type_=Integer())
PERIOD_START = bindparam("period_start", type_=UTCDateTime())
PERIOD_END = bindparam("period_end", type_=UTCDateTime())


class TeamMember:
    """A viewer of one team whose id is bound per request: the visibility rules written
    with `TEAM` in place of the id, so one statement serves every team."""

    team_id = TEAM

    def has_role(self, *roles: Role) -> bool:
        return False


def viewer_kind(user: User) -> tuple[str, dict]:
    """Which statements `user` reads (their visibility's shape), and its parameters."""
    if user.has_role(Role.ADMIN):
        return "admin", {}
    if user.team_id is None:
        return "no team", {}
    return "team", {"team_id": user.team_id}


def _visible_to(kind: str):
    """`of_visible_customers` for a kind of viewer, the team bound per request."""
    if kind == "team":
        return partial(of_visible_customers, user=TeamMember())
    visible = true() if kind == "admin" else false()
    return lambda column: visible


def _team_visible(kind: str):
    """A condition on a team id column for a kind of viewer, the team bound per request."""
    if kind == "team":
        return lambda column: column == TEAM
    visible = true() if kind == "admin" else false()
    return lambda column: visible


def _whole_months(table, visible, whole: int) -> Select:
    """The rows of the period's `whole` whole months from kept month rows (`table`, its
    owner's visibility `visible`), as the report adds them up."""
    kept = table.c
    owner = kept.customer_id if "customer_id" in kept else kept.team_id
    month_rows = (
        select(
            kept.month,
            *(
                kept[name]
                for name in ("customer_id", "technician_id", "cause_category")
                if name in kept
            ),
            kept.previous_accepted_at.label("before"),
            kept.revisions,
            *(kept[name] for name in MONEY),
        )
        .where(
            visible(owner),
            kept.month >= bindparam("month_0", type_=Date()),
            kept.month <= bindparam(f"month_{whole - 1}", type_=Date()),
        )
        .subquery(f"{table.name}_rows")
    )
    # A whole month counts an incident whose earlier acceptance is before it.
    begins = case(
        *(
            (
                month_rows.c.month == bindparam(f"month_{n}", type_=Date()),
                bindparam(f"month_{n}_begins", type_=UTCDateTime()),
            )
            for n in range(whole)
        )
    )
    return _cost_rows(month_rows.c.month, month_rows.c, month_rows.c.revisions, begins)


@lru_cache(maxsize=64)
def _costs_statement(kind: str, whole: int, edges: int) -> Select:
    """The cost figures of a period with `whole` whole months (read from the month rows
    added up again: per customer for the grouping by customer, per team for the others)
    and `edges` partial ones (from the cost entries), in every grouping."""
    visible = _visible_to(kind)
    # The days outside whole months, a range of the entries' index per month and customer
    # (an OR of them would read the customers' whole history on SQLite).
    entries = CostEntry.__table__.c
    edge_parts = []
    for n in range(edges):
        begin = bindparam(f"edge_{n}_begins", type_=UTCDateTime())
        edge = (
            select(
                entries.customer_id,
                entries.technician_id,
                entries.cause_category,
                kept_months.previous_acceptance().label("before"),
                *(entries[name] for name in MONEY),
            )
            .where(
                visible(entries.customer_id),
                entries.accepted_at >= begin,
                entries.accepted_at < bindparam(f"edge_{n}_ends", type_=UTCDateTime()),
            )
            .subquery(f"edge_{n}")
        )
        month = bindparam(f"edge_{n}_month", type_=Date())
        edge_parts.append(_cost_rows(month, edge.c, literal(1), begin))
    edge_rows = None
    if edge_parts:
        edge_rows = (union_all(*edge_parts) if len(edge_parts) > 1 else edge_parts[0]).cte(
            "edge_rows"
        )

    def rows_of(table, visible_owner, name: str):
        parts = [_whole_months(table, visible_owner, whole)] if whole else []
        if edge_rows is not None:
            parts.append(select(edge_rows))
        return (union_all(*parts) if len(parts) > 1 else parts[0]).cte(name)

    by_team = rows_of(TeamMonth.__table__, _team_visible(kind), "team_rows")

    def sums(rows):
        return (
            *(func.sum(rows.c[name]).label(name) for name in ("in_period", "in_month")),
            *(func.sum(rows.c[name]).label(name) for name in MONEY),
        )

    # By customer, the whole months are added up per customer as they are read (the
    # customers' months come in customer order from their index: a row per customer and
    # month, whatever the technician and cause), and only those sums, with the edges',
    # are grouped again; gathered into one set of rows first, they were all sorted to be
    # grouped.
    customer_parts = []
    if whole:
        month_rows = _whole_months(CustomerMonth.__table__, visible, whole).subquery()
        customer_parts.append(
            select(month_rows.c.customer_id, *sums(month_rows)).group_by(month_rows.c.customer_id)
        )
    if edge_rows is not None:
        customer_parts.append(
            select(edge_rows.c.customer_id, *sums(edge_rows)).group_by(edge_rows.c.customer_id)
        )
    by_customer = (
        union_all(*customer_parts) if len(customer_parts) > 1 else customer_parts[0]
    ).subquery("customer_sums")

    no_id, no_text = cast(null(), Integer), cast(null(), String)
    return union_all(
        select(literal("month"), by_team.c.month, no_id, no_text, *sums(by_team)).group_by(
            by_team.c.month
        ),
        select(
            literal("customer"),
            null(),
            by_customer.c.customer_id,
            Customer.name,
            *sums(by_customer),
        )
        .join(Customer, Customer.id == by_customer.c.customer_id)
        .group_by(by_customer.c.customer_id, Customer.name),
        select(literal("technician"), null(), by_team.c.technician_id, User.name, *sums(by_team))
        .outerjoin(User, User.id == by_team.c.technician_id)
        .group_by(by_team.c.technician_id, User.name),
        select(literal("cause"), null(), no_id, by_team.c.cause, *sums(by_team)).group_by(
            by_team.c.cause
        ),
    )


def costs(user: User, period: Period) -> Costs:
    """What the incidents `user` may see cost in the period, in every grouping: months in
    order (every month of the period, empty ones too), the others by absorbed, largest
    first. The whole months of the period are read from the month rows, the days before
    and after them from the cost entries (months.py, rollups.py): for each visible
    customer, ranges of their indexes, nothing older. The database adds them up in
    whole cents, one statement for every grouping, so what is read here is a row per
    month, customer, technician and cause, however many revisions were accepted."""
    zone = clock.company_zone()
    connection = db.session.connection()
    whole = whole_months(period)
    if whole and kept_months.zone_added_up_in(connection) != zone.key:
        whole = []  # added up in another zone: the entries give the same figures
    kind, parameters = viewer_kind(user)
    parameters["period_start"] = period.start
    for n, month in enumerate(whole):
        parameters[f"month_{n}"] = month
        parameters[f"month_{n}_begins"] = _local_midnight(month)
    edges = [month for month in period.months() if month not in whole]
    for n, month in enumerate(edges):
        parameters[f"edge_{n}_month"] = month
        parameters[f"edge_{n}_begins"] = max(period.start, _local_midnight(month))
        parameters[f"edge_{n}_ends"] = min(period.end, _local_midnight(next_month(month)))
    groupings = _costs_statement(kind, len(whole), len(edges))
    found: dict[CostGrouping, list[CostRow]] = {grouping: [] for grouping in CostGrouping}
    by_month: dict[str, CostRow] = {}
    for grouping, month, _id, text, in_period, in_month, *cents in connection.execute(
        groupings, parameters
    ):
        grouping = CostGrouping(grouping)
        if grouping is CostGrouping.MONTH:
            by_month[_month_key(_as_date(month))] = _money_row("", in_month, cents)
            continue
        if grouping is CostGrouping.CAUSE:
            text = CauseCategory(text).label
        elif grouping is CostGrouping.TECHNICIAN:
            text = text or REPORTED_BY_CUSTOMER
        found[grouping].append(_money_row(text, in_period, cents))
    found[CostGrouping.MONTH] = [
        replace(by_month.get(key) or _money_row("", 0, (0, 0, 0)), label=key)
        for key in map(_month_key, period.months())
    ]
    for grouping in (CostGrouping.CUSTOMER, CostGrouping.TECHNICIAN, CostGrouping.CAUSE):
        found[grouping].sort(key=lambda row: (-row.we_absorbed, row.label))
    # Every revision has one customer: the customers' figures add up to the whole.
    customers = found[CostGrouping.CUSTOMER]
    total = CostRow(
        "Total",
        sum(row.incidents for row in customers),
        *(sum((getattr(row, name) for row in customers), Decimal("0.00")) for name in SUMS),
    )
    return Costs(groupings=found, total=total)


SUMS = ("we_absorbed", "customer_paid", "customer_tax")


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


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


PERCENTILES = (0.5, 0.9)  # the median and the 90th percentile


class _StepHours:
    """An aggregate for SQLite, which has no `percentile_cont`: each step's hours of the
    rows, sorted, handed back as one value (the counts of the four steps, then their
    hours, `steps.pack`ed: exactly the floats SQLite holds). They reach it through one
    call per row from inside SQLite instead of as rows fetched through the driver, which
    cost twice as much; only the days around a period's whole months are read this way
    (all of it while the months are kept in another zone than the company's)."""

    def __init__(self) -> None:
        self.hours: tuple[list[float], ...] = ([], [], [], [])

    def step(self, sent, accepted, resolved, whole_way) -> None:
        # One argument per step of STEPS, in the order of rollups.STEP_COLUMNS.
        if sent is not None:
            self.hours[0].append(sent)
        if accepted is not None:
            self.hours[1].append(accepted)
        if resolved is not None:
            self.hours[2].append(resolved)
        if whole_way is not None:
            self.hours[3].append(whole_way)

    def finalize(self) -> bytes:
        for hours in self.hours:
            hours.sort()
        return kept_steps.pack([*map(len, self.hours), *(h for hours in self.hours for h in hours)])


def _step_hours_runs(value: bytes) -> list[array]:
    """The sorted hours of each step from `_StepHours`' value."""
    values = kept_steps.unpack(value)
    runs, start = [], len(STEPS)
    for count in values[: len(STEPS)]:
        runs.append(values[start : start + int(count)])
        start += int(count)
    return runs


STEP_HOURS = "fieldsvc_step_hours"
_STEP_HOURS_ADDED = "fieldsvc.step_hours"


def _add_step_hours(connection) -> None:
    """Adds the SQLite aggregate to the connection's driver connection, once per
    connection (the pool keeps what it records about each connection)."""
    pooled = connection.connection
    if not pooled.info.get(_STEP_HOURS_ADDED):
        pooled.driver_connection.create_aggregate(STEP_HOURS, len(rollups.STEP_COLUMNS), _StepHours)
        pooled.info[_STEP_HOURS_ADDED] = True


# Where the period's whole months begin and end (SQLite's statement).
WHOLE_START = bindparam("whole_start", type_=UTCDateTime())
WHOLE_END = bindparam("whole_end", type_=UTCDateTime())


@lru_cache(maxsize=16)
def _response_times_statement(kind: str, dialect: str, edges: str = "") -> Select:
    """The response times' statement for a kind of viewer, team and period bound per
    request. PostgreSQL works out each step's count and percentiles itself, in one row
    (`percentile_cont`: the same interpolation, in the same floating-point operations, as
    `percentile`). SQLite gives a row per team and whole month of the period, the hours
    kept sorted (steps.py), and one row of the hours of the days around them (`edges`:
    "before", "after" or "both" the whole months, "" without any), from the incidents
    through `_StepHours`. While the months are kept in another zone than the company's,
    an edge's range of `created_at` stretches over the whole months, so one statement
    answers either way; each range is a seek per visible customer, so there are no
    more of them than edges."""
    incidents = Incident.__table__.c
    step_columns = [incidents[name] for name in rollups.STEP_COLUMNS]
    if dialect == "postgresql":
        columns = [
            figure
            for step in step_columns
            for figure in (
                func.count(step),
                *(func.percentile_cont(f).within_group(step) for f in PERCENTILES),
            )
        ]
        return select(*columns).where(
            _visible_to(kind)(Incident.customer_id),
            Incident.created_at >= PERIOD_START,
            Incident.created_at < PERIOD_END,
        )
    kept = TeamMonthSteps.__table__.c
    in_company_zone = (
        select(ReportMonthsZone.zone).where(ReportMonthsZone.zone == bindparam("zone")).exists()
    )
    whole_months = select(*(kept[name] for name in rollups.STEP_COLUMNS)).where(
        _team_visible(kind)(kept.team_id),
        kept.month >= bindparam("first_whole", type_=Date()),
        kept.month < bindparam("after_whole", type_=Date()),
        in_company_zone,
    )

    def reported(begins, ends):
        return select(*step_columns).where(
            _visible_to(kind)(incidents.customer_id),
            incidents.created_at >= begins,
            incidents.created_at < ends,
        )

    def unless_kept(kept_bound, other_bound):
        return case((in_company_zone, kept_bound), else_=other_bound)

    ranges = {
        "": [reported(PERIOD_START, PERIOD_END)],
        "before": [reported(PERIOD_START, unless_kept(WHOLE_START, WHOLE_END))],
        "after": [reported(unless_kept(WHOLE_END, WHOLE_START), PERIOD_END)],
        "both": [
            reported(PERIOD_START, unless_kept(WHOLE_START, WHOLE_END)),
            reported(WHOLE_END, PERIOD_END),
        ],
    }[edges]
    around = (union_all(*ranges) if len(ranges) > 1 else ranges[0]).subquery("edges")
    no_hours = cast(null(), LargeBinary)
    edge_hours = select(
        getattr(func, STEP_HOURS)(*(around.c[name] for name in rollups.STEP_COLUMNS)),
        no_hours,
        no_hours,
        no_hours,
    )
    return union_all(whole_months, edge_hours)


def _merged(runs: list) -> Sequence[float]:
    """Sorted runs of hours as one sorted sequence: Python's sort finds the runs already
    in order and merges them, far cheaper than sorting them afresh."""
    if len(runs) == 1:
        return runs[0]
    merged: list[float] = []
    for run in runs:
        merged.extend(run)
    merged.sort()
    return merged


def response_time_parameters(user: User, period: Period, dialect: str) -> tuple[tuple, dict]:
    """The arguments of `_response_times_statement` for `user` and `period`, and the
    values the statement is run with."""
    kind, parameters = viewer_kind(user)
    parameters |= {"period_start": period.start, "period_end": period.end}
    if dialect == "postgresql":
        return (kind, dialect), parameters
    whole = whole_months(period)
    if whole:
        first_whole, after_whole = whole[0], next_month(whole[-1])
        whole_start, whole_end = _local_midnight(first_whole), _local_midnight(after_whole)
        before, after = period.start < whole_start, whole_end < period.end
        edges = "both" if before and after else "before" if before else "after"
    else:  # the period alone, read from the incidents; no month
        first_whole = after_whole = period.first
        whole_start = whole_end = period.end
        edges = ""
    parameters |= {
        "first_whole": first_whole,
        "after_whole": after_whole,
        "whole_start": whole_start,
        "whole_end": whole_end,
        "zone": clock.company_zone().key,
    }
    return (kind, dialect, edges), parameters


def response_times(user: User, period: Period) -> list[StepTimes]:
    """Median and 90th percentile of each step, for incidents reported in the period.

    Each incident keeps its steps' hours (rollups.py, worked out by the database from
    its dates as this report always did). On SQLite the period's whole months are read
    sorted by team and month (steps.py) and only the days around them from the incidents;
    on PostgreSQL the visible customers' incidents of the period are ranges of one index
    that holds them. No proposal or answer is read, and the figures are those of the
    incidents' hours, to the bit."""
    connection = db.session.connection()
    dialect = connection.dialect.name
    shape, parameters = response_time_parameters(user, period, dialect)
    statement = _response_times_statement(*shape)
    if dialect == "postgresql":
        row = connection.execute(statement, parameters).one()
        return [StepTimes(name, *row[3 * n : 3 * n + 3]) for n, name in enumerate(STEPS)]
    _add_step_hours(connection)
    runs: list[list] = [[] for _ in STEPS]
    for row in connection.execute(statement, parameters):
        if row[1] is not None:  # a team's month
            for step, hours in zip(runs, kept_steps.hours_of([row]), strict=True):
                step += hours
        elif row[0] is not None:  # SQLite's driver gives NULL when no incident matched
            for step, hours in zip(runs, _step_hours_runs(row[0]), strict=True):
                if hours:
                    step.append(hours)
    found = []
    for name, step in zip(STEPS, runs, strict=True):
        ordered = _merged(step) if step else []
        found.append(StepTimes(name, len(ordered), *(_percentile(ordered, f) for f in PERCENTILES)))
    return found


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
