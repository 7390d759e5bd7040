"""The supervisors' dashboard: every figure is one aggregate query over the
incidents the viewer may see, so the page costs the same with a thousand incidents or
a hundred thousand. The conditions are shared with the incident list (drilldowns.py).

The figures that look back a year (incidents by cause) or 90 days (answers by kind)
read the calendar months from the first whole one of their window on (this month, and
any later, included) from the counts kept per team and month (reports/months.py), and
only the partial month at the window's start from the incidents and answers
themselves: their work is at most a month of the team's history, not the whole
window's, and the figures are the same to the count."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache, partial

from sqlalchemy import (
    ColumnElement,
    Date,
    Select,
    bindparam,
    case,
    false,
    func,
    literal_column,
    select,
    true,
    union_all,
)

from fieldsvc.auth.models import User
from fieldsvc.clock import company_zone, to_local
from fieldsvc.dashboard import drilldowns
from fieldsvc.database import UTCDateTime, utcnow
from fieldsvc.extensions import db
from fieldsvc.incidents.models import (
    OPEN_STATUSES,
    CauseCategory,
    FollowUp,
    Incident,
    IncidentStatus,
)
from fieldsvc.incidents.services import incidents_visible_to
from fieldsvc.parts.models import COMMITTED_STATUSES, PartOrder, PartOrderLine
from fieldsvc.portal.models import CustomerResponse, ResponseKind, SurveyResponse
from fieldsvc.proposals.models import Proposal, ProposalRevision, RevisionStatus
from fieldsvc.reports import months as kept_months
from fieldsvc.reports import services as reports
from fieldsvc.reports.models import ReportMonth, TeamMonthCount
from fieldsvc.reports.services import CostRow

ZERO = Decimal("0.00")
RATE_DAYS = 90  # the accept/decline rate looks this far back
CAUSE_MONTHS = 12  # incidents by cause: those reported in the last year
ANSWER_KINDS = (ResponseKind.ACCEPTED, ResponseKind.DECLINED, ResponseKind.CHANGES_REQUESTED)


@dataclass(frozen=True)
class Count:
    key: str  # what the linked list filters on
    label: str
    count: int


@dataclass(frozen=True)
class OwnerCount:
    owner_id: int
    label: str  # the owner's name
    count: int

    @property
    def key(self) -> int:
        return self.owner_id


@dataclass(frozen=True)
class Answers:
    accepted: int
    declined: int
    changes: int

    @property
    def decided(self) -> int:
        return self.accepted + self.declined

    @property
    def accept_rate(self) -> Decimal | None:
        """Accepted of those accepted or declined, in percent (None: none decided)."""
        if not self.decided:
            return None
        return (Decimal(self.accepted) * 100 / self.decided).quantize(Decimal("1"))


@dataclass(frozen=True)
class AtRisk:
    orders: int
    total: Decimal
    past_deadline_orders: int
    past_deadline: Decimal


@dataclass(frozen=True)
class Satisfaction:
    month: date
    answers: int
    average: Decimal | None
    nps: int | None  # % promoters (9-10) minus % detractors (0-6)


@dataclass(frozen=True)
class Dashboard:
    now: datetime
    open_by_status: list[Count]
    open_by_age: list[Count]
    awaiting_approval: int
    overdue_by_owner: list[OwnerCount]
    late_part_orders: int
    unanswered: int
    answers: Answers
    month: date  # this month, in the company's time zone
    month_cost: CostRow  # offers accepted this month, as the cost report counts them
    at_risk: AtRisk
    by_cause: list[Count]
    satisfaction: Satisfaction


# --- the statements, built once ---------------------------------------------------------
#
# Every figure's statement is built once for each kind of viewer (an admin sees every
# incident, a team member their team's, someone without a team none), with the moment
# and the team as bound parameters: a request only binds values, and SQLAlchemy finds
# the statement compiled in its cache without building it or working out its cache key.

NOW = bindparam("now", type_=UTCDateTime())
TODAY = bindparam("today", type_=Date())
ANSWERS_SINCE = bindparam("answers_since", type_=UTCDateTime())
UNANSWERED_SINCE = bindparam("unanswered_since", type_=UTCDateTime())
CAUSES_SINCE = bindparam("causes_since", type_=UTCDateTime())
MONTH_START = bindparam("month_start", type_=UTCDateTime())
MONTH_END = bindparam("month_end", type_=UTCDateTime())
MONTH = bindparam("month", type_=Date())
# The first whole month of a window (its first day) and the instant it begins, which
# ends the partial month at the window's start (see `_window`).
CAUSES_FIRST_WHOLE = bindparam("causes_first_whole", type_=Date())
CAUSES_HEAD_END = bindparam("causes_head_end", type_=UTCDateTime())
ANSWERS_FIRST_WHOLE = bindparam("answers_first_whole", type_=Date())
ANSWERS_HEAD_END = bindparam("answers_head_end", type_=UTCDateTime())
# The start of each age bucket but the oldest, by its key: "day" -> reported after it.
AGE_STARTS = {
    key: bindparam(f"age_{key}", type_=UTCDateTime())
    for key, (_label, _low, high) in drilldowns.AGES.items()
    if high is not None
}


@dataclass(frozen=True)
class _Statements:
    open_incidents: Select
    revisions: Select
    late_orders: Select
    overdue_by_owner: Select
    answers: Select
    committed_orders: Select
    month_cost: Select
    by_cause: Select
    satisfaction: Select
    # Every row of the window read from the incidents and answers: while the kept
    # counts are in another zone than the company's (until `flask reports rebuild`).
    answers_from_rows: Select
    by_cause_from_rows: Select


def _few(condition: ColumnElement[bool], dialect: str) -> ColumnElement[bool]:
    """`condition`, which few rows meet whatever the statistics say: SQLite's statistics
    keep only the average number of rows per value of an index, so with most part orders
    installed they make a status look common and SQLite walks every order ever made;
    `likelihood` tells it otherwise (SQLite's documented hint). PostgreSQL keeps the
    frequency of each value."""
    if dialect != "sqlite":
        return condition
    return func.likelihood(condition, literal_column("0.001"))  # a constant, not a parameter


def _not_few(condition: ColumnElement[bool], dialect: str) -> ColumnElement[bool]:
    """`condition`, which SQLite is told most rows meet: without statistics (or with an
    average over a column that is mostly one value) it takes an equality on an indexed
    column for a short range and starts from that index. `likelihood` keeps the term
    itself, so another index can still read it as a range."""
    if dialect != "sqlite":
        return condition
    return func.likelihood(condition, literal_column("0.9"))  # a constant, not a parameter


@cache
def _statements(kind: str, dialect: str) -> _Statements:
    viewer = reports.TeamMember() if kind == "team" else None
    visible = {"admin": true(), "no team": false()}.get(kind)
    if visible is None:
        visible = incidents_visible_to(viewer)
        of_customers = partial(reports.of_visible_customers, user=viewer)
        of_team = lambda column: column == reports.TEAM  # noqa: E731
    else:
        of_customers = lambda column, _visible=visible: _visible  # noqa: E731
        of_team = of_customers
    age = case(
        *((Incident.created_at > start, key) for key, start in AGE_STARTS.items()),
        else_="older",
    )
    submitted = ProposalRevision.status == RevisionStatus.SUBMITTED
    unanswered = drilldowns.sent_no_later_than(UNANSWERED_SINCE)
    # Each committed order's net cost from its own lines: a subquery per order, not a
    # join grouped by order, which SQLite answers by walking every order ever made in
    # id order (to group without sorting) instead of the few committed ones by status.
    net = (
        select(
            func.sum(
                func.round(
                    PartOrderLine.quantity
                    * PartOrderLine.unit_cost
                    * (100 - PartOrderLine.discount_pct)
                    / 100,
                    2,
                )
            )
        )
        .where(PartOrderLine.part_order_id == PartOrder.id)
        .correlate(PartOrder)
        .scalar_subquery()
    )

    # A count per kind in one row, as they are read: grouped, the answers of 90 days
    # (about 900 for a team at 20,000 incidents) were sorted by kind first.
    def answers_in(*edge: ColumnElement[bool]) -> Select:
        return (
            select(*(func.count().filter(CustomerResponse.kind == kind) for kind in ANSWER_KINDS))
            .join(ProposalRevision, ProposalRevision.id == CustomerResponse.revision_id)
            .join(Proposal, Proposal.id == ProposalRevision.proposal_id)
            .join(Incident, Incident.id == Proposal.incident_id)
            .where(visible, CustomerResponse.created_at >= ANSWERS_SINCE, *edge)
        )

    # From the period index, which starts with the customer: the entries of the visible
    # customers alone, without reading the rows. A count per cause in one row, not
    # grouped: grouping sorted a year of a team's incidents by cause, and grouped by the
    # bare column a plan could walk the cause index through every incident ever.
    def reported_in(*edge: ColumnElement[bool]) -> Select:
        return select(
            *(func.count().filter(Incident.cause_category == cause) for cause in CauseCategory)
        ).where(of_customers(Incident.customer_id), Incident.created_at >= CAUSES_SINCE, *edge)

    # A team's overdue promises per owner (see `overdue_by_owner`). Grouped by `owner_id
    # + 0`, not the bare column, so that no plan walks the owners' index of the company's
    # open promises to group them without sorting.
    owner = (FollowUp.owner_id + literal_column("0")).label("owner_id")
    overdue = (
        select(owner, func.count().label("count"))
        .where(
            FollowUp.incident_id.in_(
                select(Incident.id).where(
                    of_customers(Incident.customer_id),
                    # Implied by the promise's own condition (the incident keeps its
                    # earliest open due time).
                    Incident.next_follow_up_due_at < NOW,
                )
            ),
            # Open and past due: a range of each incident's promises in their
            # (incident, closed, due) index, which starts at its open ones, so its kept
            # promises are not read. Not a place to start: the company's open promises,
            # which SQLite's statistics make look few (see `_not_few`).
            _not_few(FollowUp.closed_at.is_(None), dialect),
            FollowUp.due_at < NOW,
        )
        .group_by(owner)
        .subquery("overdue")
    )

    return _Statements(
        open_incidents=select(Incident.status, age, func.count())
        .where(visible, Incident.status.in_(OPEN_STATUSES))
        .group_by(Incident.status, age),
        revisions=select(
            func.count(ProposalRevision.id).filter(submitted),
            func.count(ProposalRevision.id).filter(unanswered),
        )
        .join(Proposal, Proposal.id == ProposalRevision.proposal_id)
        .join(Incident, Incident.id == Proposal.incident_id)
        .where(
            visible,
            ProposalRevision.status.in_((RevisionStatus.SUBMITTED, RevisionStatus.SENT)),
        ),
        late_orders=select(func.count(PartOrder.id))
        .join(Incident, Incident.id == PartOrder.incident_id)
        .where(visible, drilldowns.late_before(TODAY, partial(_few, dialect=dialect))),
        # Counted from the team's incidents whose earliest open promise is past due (a
        # short range of the (customer, next due) index for each customer of the team),
        # then those incidents' open promises past due (their incident's index): both
        # read from the indexes alone, so the work is the team's overdue promises, not
        # the company's history. Counted per owner before the owners are read, so a
        # few owners are looked up, not one per overdue promise.
        overdue_by_owner=select(User.id, User.name, overdue.c.count)
        .join(overdue, overdue.c.owner_id == User.id)
        .order_by(overdue.c.count.desc(), User.name),
        # The window's months from its first whole one on from the team's kept counts
        # (one range of their index), the partial month at its start from the answers
        # themselves: a row each.
        answers=union_all(
            _kept_counts(TeamMonthCount.answer_kind, ANSWER_KINDS, of_team, ANSWERS_FIRST_WHOLE),
            answers_in(CustomerResponse.created_at < ANSWERS_HEAD_END),
        ),
        answers_from_rows=answers_in(),
        committed_orders=select(
            PartOrder.incident_id,
            PartOrder.received_on,
            PartOrder.expected_on,
            PartOrder.return_window_days,
            net.label("net"),
        )
        .join(Incident, Incident.id == PartOrder.incident_id)
        .where(visible, _few(PartOrder.status.in_(COMMITTED_STATUSES), dialect)),
        # This month's rows of the kept months (reports/months.py), as the cost report
        # reads a whole month.
        month_cost=select(
            ReportMonth.previous_accepted_at,
            ReportMonth.revisions,
            ReportMonth.we_absorb,
            ReportMonth.customer_pays,
            ReportMonth.customer_tax,
        ).where(of_customers(ReportMonth.customer_id), ReportMonth.month == MONTH),
        # The year's incidents by cause, read as the answers are.
        by_cause=union_all(
            _kept_counts(TeamMonthCount.cause_category, CauseCategory, of_team, CAUSES_FIRST_WHOLE),
            reported_in(Incident.created_at < CAUSES_HEAD_END),
        ),
        by_cause_from_rows=reported_in(),
        satisfaction=select(
            func.count(SurveyResponse.id),
            func.avg(SurveyResponse.score),
            func.sum(case((SurveyResponse.score >= 9, 1), else_=0)),
            func.sum(case((SurveyResponse.score <= 6, 1), else_=0)),
        )
        .join(Incident, Incident.id == SurveyResponse.incident_id)
        .where(
            visible,
            SurveyResponse.created_at >= MONTH_START,
            SurveyResponse.created_at < MONTH_END,
        ),
    )


def _kept_counts(column, values, of_team, first: ColumnElement) -> Select:
    """The counts kept per team and month from the month `first` on, a sum per value of
    `column` (a cause or a kind of answer) in one row: one range of the team's rows.
    Every month from `first` on, this one and any later too: they count exactly the
    rows from its start on, as the window does (it has no end)."""
    kept = TeamMonthCount
    return select(
        *(func.coalesce(func.sum(kept.counted).filter(column == value), 0) for value in values)
    ).where(of_team(kept.team_id), kept.month >= first, column.is_not(None))


# --- the figures ----------------------------------------------------------------------------


def dashboard(user: User, now: datetime | None = None) -> Dashboard:
    now = now or utcnow()
    kind, parameters = reports.viewer_kind(user)
    connection = db.session.connection()
    statements = _statements(kind, connection.dialect.name)
    month = _this_month(now)
    zone = company_zone()
    kept = kept_months.zone_added_up_in(connection) == zone.key
    parameters |= _window("causes", now - timedelta(days=365 * CAUSE_MONTHS // 12), zone)
    parameters |= _window("answers", now - timedelta(days=RATE_DAYS), zone)
    parameters |= {
        "now": now,
        "today": drilldowns.today(now),
        "answers_since": now - timedelta(days=RATE_DAYS),
        "unanswered_since": drilldowns.unanswered_since(now),
        "causes_since": now - timedelta(days=365 * CAUSE_MONTHS // 12),
        "month_start": month.start,
        "month_end": month.end,
        "month": month.first,
        **{
            f"age_{key}": now - timedelta(days=high)
            for key, (_label, _low, high) in drilldowns.AGES.items()
            if high is not None
        },
    }

    def read(statement: Select):
        return connection.execute(statement, parameters)

    open_by_status, open_by_age = _open_incidents(read(statements.open_incidents))
    awaiting_approval, unanswered = read(statements.revisions).one()
    return Dashboard(
        now=now,
        open_by_status=open_by_status,
        open_by_age=open_by_age,
        awaiting_approval=awaiting_approval or 0,
        overdue_by_owner=[OwnerCount(*row) for row in read(statements.overdue_by_owner)],
        late_part_orders=read(statements.late_orders).scalar() or 0,
        unanswered=unanswered or 0,
        answers=_answers(
            _added_up(read(statements.answers if kept else statements.answers_from_rows))
        ),
        month=month.first,
        month_cost=_month_cost(user, month, read(statements.month_cost), kept),
        at_risk=_at_risk(read(statements.committed_orders).all(), now),
        by_cause=_by_cause(
            _added_up(read(statements.by_cause if kept else statements.by_cause_from_rows))
        ),
        satisfaction=_satisfaction(read(statements.satisfaction).one(), month),
    )


def _window(name: str, since: datetime, zone) -> dict:
    """A window from `since` on cut at calendar months in `zone`: the months from the
    first that begins after `since` are read from the kept counts, the instants before
    it from the rows."""
    first = kept_months.following(kept_months.month_of(since, zone))
    return {
        f"{name}_first_whole": first,
        f"{name}_head_end": kept_months.month_start(first, zone),
    }


def _added_up(rows) -> tuple[int, ...]:
    """The counts of a window's parts (the kept months, the partial month's rows), added
    up."""
    return tuple(sum(column or 0 for column in counts) for counts in zip(*rows, strict=True))


def _this_month(now: datetime) -> reports.Period:
    """The calendar month of `now` in the company's time zone, as a report period."""
    first = to_local(now).date().replace(day=1)
    return reports.Period(first, reports.next_month(first) - timedelta(days=1))


def _open_incidents(rows) -> tuple[list[Count], list[Count]]:
    """Open incidents by status and by age, from their counts by both."""
    by_status: dict[IncidentStatus, int] = {}
    by_age: dict[str, int] = {}
    for status, age, count in rows:
        by_status[status] = by_status.get(status, 0) + count
        by_age[age] = by_age.get(age, 0) + count
    statuses = [s for s in IncidentStatus if s in OPEN_STATUSES]
    return (
        [Count(s.value, s.label, by_status.get(s, 0)) for s in statuses],
        [Count(key, label, by_age.get(key, 0)) for key, (label, _, _) in drilldowns.AGES.items()],
    )


def _answers(counts) -> Answers:
    accepted, declined, changes = counts
    return Answers(accepted=accepted, declined=declined, changes=changes)


def _month_cost(user: User, month: reports.Period, rows, kept: bool) -> CostRow:
    """Offers accepted this month, as the cost report counts them: from this month's
    kept month rows while they are in the company's zone (`kept`), else as the report
    reads."""
    rows = rows.all()
    if not kept:
        return reports.cost_total(user, month)
    incidents = sum(
        count for previous, count, *_ in rows if previous is None or previous < month.start
    )
    absorbed, paid, tax = (sum((row[i] for row in rows), ZERO) for i in (2, 3, 4))
    return CostRow("Total", incidents, _money(absorbed), _money(paid), _money(tax))


def _at_risk(committed, now: datetime) -> AtRisk:
    """Parts bought for offers not accepted yet; those past their return deadline too.
    The committed orders (few: parts are installed or returned soon) with their net cost
    summed in SQL, then which of their incidents accepted an offer: two small queries
    whatever the history. Deadlines are date arithmetic, done here for both databases."""
    # An order without lines commits no money (and never counted).
    committed = [tuple(row) for row in committed if row[-1] is not None]
    # Read by incident (its index), the status compared here: given the status in SQL,
    # SQLite walks every accepted revision of the whole history instead.
    accepted = {
        incident_id
        for incident_id, status in db.session.connection().execute(
            ACCEPTED_OF, {"incident_ids": sorted({row[0] for row in committed})}
        )
        if status == RevisionStatus.ACCEPTED
    }
    rows = [row[1:] for row in committed if row[0] not in accepted]
    today = drilldowns.today(now)
    past = [
        cost
        for received, expected, window, cost in rows
        if window is not None
        and (received or expected) is not None
        and (received or expected) + timedelta(days=window) < today
    ]
    return AtRisk(
        orders=len(rows),
        total=_money(sum((_money(cost) for *_, cost in rows), ZERO)),
        past_deadline_orders=len(past),
        past_deadline=_money(sum((_money(cost) for cost in past), ZERO)),
    )


ACCEPTED_OF = (
    select(Proposal.incident_id, ProposalRevision.status)
    .join(ProposalRevision, ProposalRevision.proposal_id == Proposal.id)
    .where(Proposal.incident_id.in_(bindparam("incident_ids", expanding=True)))
)


def _by_cause(counts) -> list[Count]:
    return [Count(c.value, c.label, count) for c, count in zip(CauseCategory, counts, strict=True)]


def _satisfaction(row, month: reports.Period) -> Satisfaction:
    answers, average, promoters, detractors = row
    if not answers:
        return Satisfaction(month.first, 0, None, None)
    nps = round((int(promoters) - int(detractors)) * 100 / answers)
    return Satisfaction(month.first, answers, Decimal(str(average)).quantize(Decimal("0.1")), nps)


def _money(value) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


def largest(counts: Sequence[Count | OwnerCount]) -> int:
    """The bar charts' scale: the largest count (at least 1)."""
    return max((c.count for c in counts), default=0) or 1
