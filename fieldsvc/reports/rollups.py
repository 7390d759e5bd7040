"""The figures the reports and the dashboard read, kept where a period is cheap to read.

Two things are derived from the facts and kept next to them, in the same transaction
as the change that moves them (a flush hook, as the incident's next follow-up due time
is kept, so every path that writes the facts keeps them: the services, the CLI, the
demo data):

- on each incident, when its first proposal was sent (`first_sent_at`), when the
  customer first accepted one (`first_accepted_at`), and the hours of each step the
  response-times report measures (to resolved only while it is resolved or closed: a
  reopened incident keeps the resolved_at of its earlier resolution);
- one `CostEntry` per accepted revision, with its frozen figures, the acceptance time
  and the incident's customer, technician and cause, for the cost of incidents;
- those entries added up by customer and calendar month (months.py), for long periods,
  and again by team (moved when a customer moves to another team);
- the incidents by cause and the customers' answers by kind counted per team and
  calendar month (months.py), for the dashboard's windows of a year and of 90 days.
- the step hours sorted by team and calendar month (steps.py), for the response times
  of long periods.

`recompute()` writes them from the facts: for the incidents a flush touched, and for
all of them in the migration that introduced them and after a bulk load (the months:
`months.keep()` for a flush, `months.rebuild()` for all). `verify()`
compares what is kept with what the facts say (`flask reports verify`).
"""

from collections.abc import Collection
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Connection,
    case,
    delete,
    event,
    func,
    insert,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.base import NO_VALUE
from sqlalchemy.orm.util import identity_key

from fieldsvc import clock
from fieldsvc.customers.models import Customer
from fieldsvc.incidents.models import Incident, IncidentStatus
from fieldsvc.portal.models import CustomerResponse, ResponseKind
from fieldsvc.proposals.models import Proposal, ProposalRevision
from fieldsvc.reports import months, steps
from fieldsvc.reports.models import CostEntry
from fieldsvc.reports.steps import STEP_COLUMNS

incidents = Incident.__table__
proposals = Proposal.__table__
revisions = ProposalRevision.__table__
responses = CustomerResponse.__table__
entries = CostEntry.__table__

# What each kept figure depends on, besides which rows exist (a foreign key set through
# its relationship changes the column only during the flush: both are watched).
_INCIDENT_FACTS = (
    "customer_id",
    "customer",
    "created_by_id",
    "created_by",
    "cause_category",
    "created_at",
    "status",
    "resolved_at",
)
RESOLVED_STATUSES = (IncidentStatus.RESOLVED, IncidentStatus.CLOSED)
_REVISION_FACTS = (
    "proposal_id",
    "proposal",
    "sent_at",
    "we_absorb",
    "customer_pays",
    "customer_tax",
)
_RESPONSE_FACTS = ("revision_id", "revision", "kind", "created_at")
# What decides where an incident is counted by team and month (months.py), and what of
# those moves it (and its answers) to another month or team.
_COUNTED_FACTS = ("customer_id", "customer", "created_at", "cause_category")
_COUNTED_WHERE = ("customer_id", "customer", "created_at")
_CHANGED = "fieldsvc_reports_rollups_changed"


# --- from the facts -----------------------------------------------------------------------


def _first_sent():
    return (
        select(func.min(revisions.c.sent_at))
        .select_from(revisions.join(proposals, proposals.c.id == revisions.c.proposal_id))
        .where(proposals.c.incident_id == incidents.c.id)
        .scalar_subquery()
    )


def _first_accepted():
    return (
        select(func.min(responses.c.created_at))
        .select_from(
            responses.join(revisions, revisions.c.id == responses.c.revision_id).join(
                proposals, proposals.c.id == revisions.c.proposal_id
            )
        )
        .where(
            proposals.c.incident_id == incidents.c.id,
            responses.c.kind == ResponseKind.ACCEPTED,
        )
        .scalar_subquery()
    )


def hours_between(dialect: str):
    """SQL for the hours from one timestamp to another (NULL if either is)."""
    if dialect == "sqlite":
        return lambda begin, end: (func.julianday(end) - func.julianday(begin)) * 24
    return lambda begin, end: func.extract("epoch", end - begin) / 3600


def _step_hours(dialect: str) -> dict:
    """Each response-time step's hours, from the incident's own columns."""
    hours = hours_between(dialect)
    c = incidents.c
    resolved = case((c.status.in_(RESOLVED_STATUSES), c.resolved_at))
    return dict(
        zip(
            STEP_COLUMNS,
            (
                hours(c.created_at, c.first_sent_at),
                hours(c.first_sent_at, c.first_accepted_at),
                hours(c.first_accepted_at, resolved),
                hours(c.created_at, resolved),
            ),
            strict=True,
        )
    )


ENTRY_COLUMNS = (
    "revision_id",
    "incident_id",
    "customer_id",
    "technician_id",
    "cause_category",
    "accepted_at",
    "we_absorb",
    "customer_pays",
    "customer_tax",
)


def _entries_from_facts(incident_ids: Collection[int] | None):
    """The cost entries as the facts give them, columns in ENTRY_COLUMNS order."""
    stmt = (
        select(
            responses.c.revision_id,
            proposals.c.incident_id,
            incidents.c.customer_id,
            incidents.c.created_by_id,
            incidents.c.cause_category,
            responses.c.created_at,
            revisions.c.we_absorb,
            revisions.c.customer_pays,
            revisions.c.customer_tax,
        )
        .select_from(
            responses.join(revisions, revisions.c.id == responses.c.revision_id)
            .join(proposals, proposals.c.id == revisions.c.proposal_id)
            .join(incidents, incidents.c.id == proposals.c.incident_id)
        )
        .where(responses.c.kind == ResponseKind.ACCEPTED)
    )
    if incident_ids is not None:
        stmt = stmt.where(proposals.c.incident_id.in_(incident_ids))
    return stmt


def recompute(connection: Connection, incident_ids: Collection[int] | None = None) -> None:
    """Write the kept figures of these incidents (None: of every incident) from the facts.

    The migration that introduced them, the benchmarks' bulk loader and `flask reports
    rebuild` call it for every incident; the flush hook below for those a flush touched.
    Rewriting every incident leaves PostgreSQL's search indexes slow for rare terms: a
    caller that rewrote them all builds them afresh once its transaction has committed
    (`search.rebuild_indexes`).
    """
    if incident_ids is not None and not incident_ids:
        return
    milestones = update(incidents).values(
        first_sent_at=_first_sent(), first_accepted_at=_first_accepted()
    )
    step_hours = update(incidents).values(_step_hours(connection.dialect.name))
    drop = delete(entries)
    if incident_ids is not None:
        incident_ids = sorted(incident_ids)
        milestones = milestones.where(incidents.c.id.in_(incident_ids))
        step_hours = step_hours.where(incidents.c.id.in_(incident_ids))
        drop = drop.where(entries.c.incident_id.in_(incident_ids))
    connection.execute(milestones)
    connection.execute(step_hours)
    connection.execute(drop)
    connection.execute(
        insert(entries).from_select(ENTRY_COLUMNS, _entries_from_facts(incident_ids))
    )


# --- kept on every flush ------------------------------------------------------------------


@dataclass
class _Touched:
    """What a flush changes that the kept figures depend on."""

    incidents: set = field(default_factory=set)
    proposals: set = field(default_factory=set)
    revisions: set = field(default_factory=set)
    responses: set = field(default_factory=set)
    # Incidents, proposals, revisions an object moved away from (a changed foreign key).
    former: dict = field(default_factory=lambda: {"incident": set(), "proposal": set()})
    # Customers that moved to another team, and the teams they left.
    moved: set = field(default_factory=set)
    teams_left: set = field(default_factory=set)
    every_team: bool = False
    # Incidents and answers counted by team and month that a flush adds or changes, where
    # those it changes or deletes were counted before it, and the incidents (proposals,
    # revisions) whose answers moved with them.
    counted_incidents: set = field(default_factory=set)
    counted_answers: set = field(default_factory=set)
    counted_before: months.Counted | None = None
    answers_moved_with: dict = field(
        default_factory=lambda: {"incident": set(), "proposal": set(), "revision": set()}
    )
    # Where incidents whose customer or creation time changed were: id -> (customer, time).
    places_left: dict = field(default_factory=dict)


def _changed(obj, names: tuple[str, ...]) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in names)


def _former(obj, *names: str) -> set:
    """The ids an object's foreign keys (or their relationships) pointed to before."""
    state = inspect(obj)
    deleted = [value for name in names for value in state.attrs[name].history.deleted or ()]
    return {
        getattr(value, "id", value)
        for value in deleted
        if value is not None and value is not NO_VALUE
    }


@event.listens_for(Session, "before_flush")
def _note_changes(session: Session, flush_context, instances) -> None:
    touched: _Touched = session.info.setdefault(_CHANGED, _Touched())
    # Counted before this flush: the incidents and answers it changes or deletes, read
    # from the database before it writes them.
    before = {"incident": set(), "answer": set(), "proposal": set(), "revision": set()}
    moved_incidents = []
    for obj in session.new:
        if isinstance(obj, Incident):
            touched.counted_incidents.add(obj)
        elif isinstance(obj, Proposal):
            touched.proposals.add(obj)
        elif isinstance(obj, ProposalRevision) and obj.sent_at is not None:
            touched.revisions.add(obj)
        elif isinstance(obj, CustomerResponse):
            touched.responses.add(obj)
            touched.counted_answers.add(obj)
    for obj in session.dirty:
        if isinstance(obj, Incident) and _changed(obj, _INCIDENT_FACTS):
            touched.incidents.add(obj)
            if _changed(obj, _COUNTED_FACTS):
                touched.counted_incidents.add(obj)
            if _changed(obj, _COUNTED_WHERE):
                before["incident"].add(obj.id)
            if _changed(obj, ("customer_id", "customer", "created_at")):
                moved_incidents.append(obj.id)
        elif isinstance(obj, Proposal) and _changed(obj, ("incident_id", "incident")):
            touched.proposals.add(obj)
            touched.former["incident"] |= _former(obj, "incident_id", "incident")
            before["proposal"].add(obj.id)
        elif isinstance(obj, ProposalRevision) and _changed(obj, _REVISION_FACTS):
            touched.revisions.add(obj)
            touched.former["proposal"] |= _former(obj, "proposal_id", "proposal")
            if _changed(obj, ("proposal_id", "proposal")):
                before["revision"].add(obj.id)
        elif isinstance(obj, CustomerResponse) and _changed(obj, _RESPONSE_FACTS):
            touched.responses.add(obj)
            touched.counted_answers.add(obj)
            before["answer"].add(obj.id)
        elif isinstance(obj, Customer) and _changed(obj, ("team_id", "team")):
            touched.moved.add(obj)
            state = inspect(obj)
            left = [
                value
                for name in ("team_id", "team")
                for value in state.attrs[name].history.deleted or ()
                if value is not NO_VALUE
            ]
            # None among them: the customer had no team. Nothing: the team it had was not
            # loaded, so every team is added up again.
            touched.teams_left |= {getattr(value, "id", value) for value in left}
            touched.every_team |= not left
    for obj in session.deleted:
        if isinstance(obj, Incident):
            before["incident"].add(obj.id)
        elif isinstance(obj, Proposal):
            touched.former["incident"].add(obj.incident_id)
            before["proposal"].add(obj.id)
        elif isinstance(obj, ProposalRevision):
            touched.former["proposal"].add(obj.proposal_id)
            before["revision"].add(obj.id)
        elif isinstance(obj, CustomerResponse):
            touched.responses.add(obj)
            before["answer"].add(obj.id)
    if any(before.values()):
        _note_counted_before(session.connection(), touched, before)
    if moved_incidents:
        # Read before the flush writes them: where the incidents' step hours were kept.
        where = select(incidents.c.id, incidents.c.customer_id, incidents.c.created_at).where(
            incidents.c.id.in_(sorted(set(moved_incidents) - touched.places_left.keys()))
        )
        for incident_id, *place in session.connection().execute(where):
            touched.places_left[incident_id] = tuple(place)


def _note_counted_before(connection: Connection, touched: _Touched, before: dict) -> None:
    """Where the incidents and answers a flush moves or deletes are counted until it
    writes them (with those of earlier flushes whose counts are not kept yet)."""
    moved_with = touched.answers_moved_with
    moved_with["incident"] |= before["incident"]
    moved_with["proposal"] |= before["proposal"]
    moved_with["revision"] |= before["revision"]
    counted = months.counted_in(
        connection,
        incident_ids=before["incident"],
        answers_of_incidents=before["incident"],
        answer_ids=before["answer"],
        answers_of_proposals=before["proposal"],
        answers_of_revisions=before["revision"],
    )
    earlier = touched.counted_before
    if earlier is not None:
        counted = months.Counted(counted.zone, counted.months | earlier.months)
    touched.counted_before = counted


@event.listens_for(Session, "after_flush_postexec")
def _keep_figures(session: Session, flush_context) -> None:
    touched: _Touched | None = session.info.pop(_CHANGED, None)
    if touched is None:
        return
    if touched.moved:
        _keep_moved_teams(session.connection(), touched)
    _keep_cost_figures(session, touched)
    _keep_counts(session.connection(), touched)


def _keep_cost_figures(session: Session, touched: _Touched) -> None:
    incident_ids = {obj.id for obj in touched.incidents} | touched.former["incident"]
    incident_ids |= {obj.incident_id for obj in touched.proposals}
    proposal_ids = {obj.proposal_id for obj in touched.revisions} | touched.former["proposal"]
    revision_ids = {obj.revision_id for obj in touched.responses}
    connection = session.connection()
    if proposal_ids or revision_ids:
        via_revisions = select(revisions.c.proposal_id).where(
            revisions.c.id.in_(sorted(revision_ids - {None}))
        )
        incident_ids |= set(
            connection.scalars(
                select(proposals.c.incident_id).where(
                    or_(
                        proposals.c.id.in_(sorted(proposal_ids - {None})),
                        proposals.c.id.in_(via_revisions),
                    )
                )
            )
        )
    incident_ids -= {None}
    if not incident_ids:
        return
    months_before = months.months_of(connection, incident_ids)
    hours_before = {}
    if months_before.zone is not None:  # the months are kept: so are the step hours
        hours_before = {
            row[0]: tuple(row[1:])
            for row in connection.execute(
                select(incidents.c.id, *(incidents.c[name] for name in STEP_COLUMNS)).where(
                    incidents.c.id.in_(sorted(incident_ids))
                )
            )
        }
    recompute(connection, incident_ids)
    months.keep(connection, months_before, incident_ids)
    # Incidents in the session see their kept figures without a reload.
    kept = ("first_sent_at", "first_accepted_at", *STEP_COLUMNS)
    places = set(touched.places_left.values())
    for row in connection.execute(
        select(
            incidents.c.id,
            *(incidents.c[name] for name in kept),
            incidents.c.customer_id,
            incidents.c.created_at,
        ).where(incidents.c.id.in_(sorted(incident_ids)))
    ):
        incident_id, figures, place = row[0], row[1 : len(kept) + 1], tuple(row[len(kept) + 1 :])
        loaded = session.identity_map.get(identity_key(Incident, incident_id))
        if loaded is not None:
            for name, value in zip(kept, figures, strict=True):
                set_committed_value(loaded, name, value)
        hours = tuple(figures[2:])
        if months_before.zone is not None and (
            hours_before.get(incident_id) != hours or incident_id in touched.places_left
        ):
            places.add(place)
    if months_before.zone is not None:
        steps.keep(connection, months_before.zone, places)


def _keep_moved_teams(connection: Connection, touched: _Touched) -> None:
    """Customers moved between teams: every month of the teams they left and joined."""
    name = months.zone_added_up_in(connection)
    if name is None:
        return
    if touched.every_team:
        months.rebuild_teams(connection)
        months.rebuild_counts(connection, ZoneInfo(name))
        steps.rebuild(connection)
        return
    joined = {customer.team_id for customer in touched.moved}
    months.keep_teams(connection, touched.teams_left | joined)
    months.keep_team_counts(connection, touched.teams_left | joined)
    steps.keep_teams(connection, ZoneInfo(name), touched.teams_left | joined)


def _keep_counts(connection: Connection, touched: _Touched) -> None:
    """The teams' months the flush's incidents and answers were counted in and are now."""
    moved_with = touched.answers_moved_with
    incident_ids = {obj.id for obj in touched.counted_incidents} | moved_with["incident"]
    answer_ids = {obj.id for obj in touched.counted_answers}
    before = touched.counted_before
    if before is None and not (incident_ids or answer_ids):
        return
    after = months.counted_in(
        connection,
        incident_ids=incident_ids,
        answers_of_incidents=moved_with["incident"],
        answer_ids=answer_ids,
        answers_of_proposals=moved_with["proposal"],
        answers_of_revisions=moved_with["revision"],
        zone=before.zone if before is not None else None,
    )
    months.keep_counts(connection, before or months.Counted(after.zone, frozenset()), after)


# --- checked against the facts --------------------------------------------------------------


SHOWN = 20


@dataclass(frozen=True)
class Verification:
    incidents: int  # incidents checked
    entries: int  # cost entries the facts give
    problems: list[str]

    @property
    def intact(self) -> bool:
        return not self.problems


def verify(connection: Connection, zone: ZoneInfo | None = None) -> Verification:
    """Compare every kept figure with the facts, and the months with the cost entries and
    `zone` (the company's by default); name the first differences."""
    problems = []
    wrong = (
        select(incidents.c.reference)
        .where(
            or_(
                incidents.c.first_sent_at.is_distinct_from(_first_sent()),
                incidents.c.first_accepted_at.is_distinct_from(_first_accepted()),
            )
        )
        .order_by(incidents.c.id)
    )
    problems += [
        f"{reference}: first sent or first accepted time differs from its proposals"
        for reference in connection.scalars(wrong.limit(SHOWN))
    ]
    wrong_hours = (
        select(incidents.c.reference)
        .where(
            or_(
                *(
                    incidents.c[name].is_distinct_from(value)
                    for name, value in _step_hours(connection.dialect.name).items()
                )
            )
        )
        .order_by(incidents.c.id)
    )
    problems += [
        f"{reference}: response times differ from its own dates"
        for reference in connection.scalars(wrong_hours.limit(SHOWN))
    ]
    facts = _entries_from_facts(None)
    kept = select(*(entries.c[name] for name in ENTRY_COLUMNS))
    for label, rows in (
        ("missing or different", facts.except_(kept)),
        ("not in the facts", kept.except_(facts)),
    ):
        problems += [
            f"cost entry of revision {row[0]} (incident {row[1]}): {label}"
            for row in connection.execute(select(rows.subquery()).limit(SHOWN))
        ]
    problems += months.problems(connection, zone or clock.company_zone())
    problems += steps.problems(connection)
    checked = connection.scalar(select(func.count()).select_from(incidents)) or 0
    found = connection.scalar(select(func.count()).select_from(facts.subquery())) or 0
    return Verification(checked, found, problems)
