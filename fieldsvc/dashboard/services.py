"""The supervisors' dashboard: every figure is one aggregate query over the
incidents the viewer may see, so the page costs the same with a thousand incidents or
a hundred thousand. The conditions are shared with the incident list (drilldowns.py)."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import case, func, select

from fieldsvc.auth.models import User
from fieldsvc.clock import to_local
from fieldsvc.dashboard import drilldowns
from fieldsvc.database import utcnow
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
from fieldsvc.reports import services as reports
from fieldsvc.reports.services import CostRow

ZERO = Decimal("0.00")
RATE_DAYS = 90  # the accept/decline rate looks this far back
CAUSE_MONTHS = 12  # incidents by cause: those reported in the last year


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


def dashboard(user: User, now: datetime | None = None) -> Dashboard:
    now = now or utcnow()
    visible = incidents_visible_to(user)
    month = _this_month(now)
    return Dashboard(
        now=now,
        open_by_status=_open_by_status(visible),
        open_by_age=_open_by_age(visible, now),
        awaiting_approval=_count_revisions(
            visible, ProposalRevision.status == RevisionStatus.SUBMITTED
        ),
        overdue_by_owner=_overdue_by_owner(visible, now),
        late_part_orders=_count_orders(visible, drilldowns.late_order(now)),
        unanswered=_count_revisions(visible, drilldowns.unanswered_revision(now)),
        answers=_answers(visible, now - timedelta(days=RATE_DAYS)),
        month=month.first,
        month_cost=reports.cost_total(user, month),
        at_risk=_at_risk(visible, now),
        by_cause=_by_cause(user, now),
        satisfaction=_satisfaction(visible, month),
    )


def _this_month(now: datetime) -> reports.Period:
    """The calendar month of `now` in the company's time zone, as a report period."""
    first = to_local(now).date().replace(day=1)
    return reports.Period(first, reports.next_month(first) - timedelta(days=1))


def _open_by_status(visible) -> list[Count]:
    rows = dict(
        db.session.execute(
            select(Incident.status, func.count())
            .where(visible, Incident.status.in_(OPEN_STATUSES))
            .group_by(Incident.status)
        ).all()
    )
    statuses = [s for s in IncidentStatus if s in OPEN_STATUSES]
    return [Count(s.value, s.label, rows.get(s, 0)) for s in statuses]


def _open_by_age(visible, now: datetime) -> list[Count]:
    buckets = case(
        *(
            (Incident.created_at > now - timedelta(days=high), key)
            for key, (_label, _low, high) in drilldowns.AGES.items()
            if high is not None
        ),
        else_="older",
    )
    rows = dict(
        db.session.execute(
            select(buckets, func.count())
            .where(visible, Incident.status.in_(OPEN_STATUSES))
            .group_by(buckets)
        ).all()
    )
    return [Count(key, label, rows.get(key, 0)) for key, (label, _, _) in drilldowns.AGES.items()]


def _revisions(visible):
    return (
        select(func.count(ProposalRevision.id))
        .join(Proposal, Proposal.id == ProposalRevision.proposal_id)
        .join(Incident, Incident.id == Proposal.incident_id)
        .where(visible)
    )


def _count_revisions(visible, condition) -> int:
    return db.session.scalar(_revisions(visible).where(condition)) or 0


def _count_orders(visible, condition) -> int:
    return (
        db.session.scalar(
            select(func.count(PartOrder.id))
            .join(Incident, Incident.id == PartOrder.incident_id)
            .where(visible, condition)
        )
        or 0
    )


def _overdue_by_owner(visible, now: datetime) -> list[OwnerCount]:
    rows = db.session.execute(
        select(User.id, User.name, func.count(FollowUp.id))
        .join(FollowUp, FollowUp.owner_id == User.id)
        .join(Incident, Incident.id == FollowUp.incident_id)
        .where(visible, FollowUp.closed_at.is_(None), FollowUp.due_at < now)
        .group_by(User.id, User.name)
        .order_by(func.count(FollowUp.id).desc(), User.name)
    ).all()
    return [OwnerCount(*row) for row in rows]


def _answers(visible, since: datetime) -> Answers:
    rows = dict(
        db.session.execute(
            select(CustomerResponse.kind, func.count())
            .join(ProposalRevision, ProposalRevision.id == CustomerResponse.revision_id)
            .join(Proposal, Proposal.id == ProposalRevision.proposal_id)
            .join(Incident, Incident.id == Proposal.incident_id)
            .where(visible, CustomerResponse.created_at >= since)
            .group_by(CustomerResponse.kind)
        ).all()
    )
    return Answers(
        accepted=rows.get(ResponseKind.ACCEPTED, 0),
        declined=rows.get(ResponseKind.DECLINED, 0),
        changes=rows.get(ResponseKind.CHANGES_REQUESTED, 0),
    )


def _at_risk(visible, now: datetime) -> AtRisk:
    """Parts bought for offers not accepted yet; those past their return deadline too.
    The committed orders (few: parts are installed or returned soon) with their net cost
    summed in SQL, then which of their incidents accepted an offer: two small queries
    whatever the history. Deadlines are date arithmetic, done here for both databases."""
    net = func.sum(
        func.round(
            PartOrderLine.quantity
            * PartOrderLine.unit_cost
            * (100 - PartOrderLine.discount_pct)
            / 100,
            2,
        )
    )
    committed = db.session.execute(
        select(
            PartOrder.incident_id,
            PartOrder.received_on,
            PartOrder.expected_on,
            PartOrder.return_window_days,
            net,
        )
        .join(PartOrderLine, PartOrderLine.part_order_id == PartOrder.id)
        .join(Incident, Incident.id == PartOrder.incident_id)
        .where(visible, PartOrder.status.in_(COMMITTED_STATUSES))
        .group_by(PartOrder.id)
    ).all()
    # Read by incident (its index), the status compared here: given the status in SQL,
    # SQLite walks every accepted revision of the whole history instead.
    accepted = {
        incident_id
        for incident_id, status in db.session.execute(
            select(Proposal.incident_id, ProposalRevision.status)
            .join(ProposalRevision, ProposalRevision.proposal_id == Proposal.id)
            .where(Proposal.incident_id.in_({row.incident_id for row in committed}))
        )
        if status is RevisionStatus.ACCEPTED
    }
    rows = [row[1:] for row in committed if row.incident_id not in accepted]
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


def _by_cause(user: User, now: datetime) -> list[Count]:
    since = now - timedelta(days=365 * CAUSE_MONTHS // 12)
    # From the period index, which starts with the customer: the year's entries of the
    # visible customers alone, without reading the rows. Grouped by lower(cause), not the
    # bare column, so that no plan walks the cause index through every incident ever;
    # the values are lower case already.
    cause = func.lower(Incident.cause_category)
    rows = dict(
        db.session.execute(
            select(cause, func.count())
            .where(
                reports.of_visible_customers(Incident.customer_id, user),
                Incident.created_at >= since,
            )
            .group_by(cause)
        ).all()
    )
    return [Count(c.value, c.label, rows.get(c.value, 0)) for c in CauseCategory]


def _satisfaction(visible, month: reports.Period) -> Satisfaction:
    start, end = month.start, month.end
    answers, average, promoters, detractors = db.session.execute(
        select(
            func.count(SurveyResponse.id),
            func.avg(SurveyResponse.score),
            func.sum(case((SurveyResponse.score >= 9, 1), else_=0)),
            func.sum(case((SurveyResponse.score <= 6, 1), else_=0)),
        )
        .join(Incident, Incident.id == SurveyResponse.incident_id)
        .where(visible, SurveyResponse.created_at >= start, SurveyResponse.created_at < end)
    ).one()
    if not answers:
        return Satisfaction(month.first, 0, None, None)
    nps = round((int(promoters) - int(detractors)) * 100 / answers)
    return Satisfaction(month.first, answers, Decimal(str(average)).quantize(Decimal("0.1")), nps)


def _money(value) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


def largest(counts: Sequence[Count | OwnerCount]) -> int:
    """The bar charts' scale: the largest count (at least 1)."""
    return max((c.count for c in counts), default=0) or 1
