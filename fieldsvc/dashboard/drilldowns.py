"""The conditions behind the dashboard's figures, as SQL, so that a figure, the filtered
incident list it links to and the supervisors' reminders always count the same thing."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import ColumnElement, and_, exists, select

from fieldsvc.clock import to_local
from fieldsvc.incidents.models import OPEN_STATUSES, CauseCategory, FollowUp, Incident
from fieldsvc.parts.models import COMMITTED_STATUSES, PartOrder, PartOrderStatus
from fieldsvc.proposals.models import Proposal, ProposalRevision, RevisionStatus
from fieldsvc.ranges import MAX_ID

LATE_STATUSES = (PartOrderStatus.ORDERED, PartOrderStatus.SHIPPED)
# Open incidents by how long ago they were reported: label, from days, to days (None: on).
AGES = {
    "day": ("Under a day", 0, 1),
    "week": ("1 to 7 days", 1, 7),
    "month": ("7 to 30 days", 7, 30),
    "older": ("Over 30 days", 30, None),
}


def today(now: datetime) -> date:
    return to_local(now).date()


def unanswered_since(now: datetime) -> datetime:
    return now - timedelta(days=current_app.config["UNANSWERED_DAYS"])


def late_order(now: datetime) -> ColumnElement[bool]:
    """Ordered or shipped, and the supplier's expected day has passed."""
    return late_before(today(now))


def late_before(day, few: Callable | None = None) -> ColumnElement[bool]:
    """`late_order` with today given (a date, or a bound parameter for one); `few`, when
    given, wraps the status condition (the dashboard's hint that few orders are still on
    their way, so their status index is where to start, not every order ever expected)."""
    on_the_way = PartOrder.status.in_(LATE_STATUSES)
    return and_(few(on_the_way) if few else on_the_way, PartOrder.expected_on < day)


def unanswered_revision(now: datetime) -> ColumnElement[bool]:
    """Sent, and the customer has said nothing for (at least) UNANSWERED_DAYS days."""
    return sent_no_later_than(unanswered_since(now))


def sent_no_later_than(moment) -> ColumnElement[bool]:
    """`unanswered_revision` with its time given (a time, or a bound parameter for one)."""
    return and_(
        ProposalRevision.status == RevisionStatus.SENT,
        ProposalRevision.sent_at <= moment,
    )


def _incidents_with_revision(*conditions):
    """The ids of incidents having a revision that meets the conditions: one subquery,
    not one per row (a correlated EXISTS made the at-risk figure quadratic on SQLite)."""
    return (
        select(Proposal.incident_id)
        .join(ProposalRevision, ProposalRevision.proposal_id == Proposal.id)
        .where(*conditions)
    )


def _has_revision(*conditions) -> ColumnElement[bool]:
    return Incident.id.in_(_incidents_with_revision(*conditions))


def at_risk_order() -> ColumnElement[bool]:
    """Bought for an incident whose customer has not accepted an offer (bought before a yes)."""
    accepted = _incidents_with_revision(ProposalRevision.status == RevisionStatus.ACCEPTED)
    return and_(PartOrder.status.in_(COMMITTED_STATUSES), PartOrder.incident_id.not_in(accepted))


def age_between(now: datetime, key: str) -> ColumnElement[bool]:
    _label, low, high = AGES[key]
    condition = Incident.created_at <= now - timedelta(days=low)
    if high is not None:
        condition = and_(condition, Incident.created_at > now - timedelta(days=high))
    return and_(Incident.status.in_(OPEN_STATUSES), condition)


def overdue_for(owner_id: int, now: datetime) -> ColumnElement[bool]:
    return exists().where(
        FollowUp.incident_id == Incident.id,
        FollowUp.owner_id == owner_id,
        FollowUp.closed_at.is_(None),
        FollowUp.due_at < now,
    )


def _orders(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists(select(PartOrder.id).where(PartOrder.incident_id == Incident.id, condition))


@dataclass(frozen=True)
class Drilldown:
    conditions: tuple[ColumnElement[bool], ...]
    labels: tuple[str, ...]  # what the list is narrowed to, in words


def from_args(args: Mapping[str, str], now: datetime) -> Drilldown:
    """The dashboard's filters named in a list URL (`?parts=late`, `?age=week`,
    `?cause=our_technician`, `?offers=unanswered`, `?overdue_owner=3`); unknown values
    are ignored, as the list's other filters do."""
    conditions, labels = [], []
    if args.get("parts") == "late":
        conditions.append(_orders(late_order(now)))
        labels.append("part orders late")
    elif args.get("parts") == "at_risk":
        conditions.append(_orders(at_risk_order()))
        labels.append("parts at risk (offer not accepted)")
    if args.get("offers") == "unanswered":
        conditions.append(_has_revision(unanswered_revision(now)))
        labels.append(f"offers unanswered for {current_app.config['UNANSWERED_DAYS']} days")
    elif args.get("offers") == "awaiting_approval":
        conditions.append(_has_revision(ProposalRevision.status == RevisionStatus.SUBMITTED))
        labels.append("offers awaiting approval")
    if (age := args.get("age")) in AGES:
        conditions.append(age_between(now, age))
        labels.append(f"open, reported {AGES[age][0].lower()} ago")
    if (cause := args.get("cause")) in {c.value for c in CauseCategory}:
        conditions.append(Incident.cause_category == CauseCategory(cause))
        labels.append(f"cause: {CauseCategory(cause).label.lower()}")
    owner = args.get("overdue_owner", "")
    if owner.isdigit() and int(owner) <= MAX_ID:
        conditions.append(overdue_for(int(owner), now))
        labels.append("overdue follow-ups of one person")
    return Drilldown(tuple(conditions), tuple(labels))
