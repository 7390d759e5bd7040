"""The page and list reads of incidents: the incident page's incident and its
collections, the incident lists and their filter choices, My day, and an incident's
timeline.

Nothing here writes. Who may see which incident is decided in services.py, and every
statement here carries its condition. What a page only shows is read as plain rows and
records rather than built as the session's objects, at a fraction of the ORM's cost of
building them.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    inspect,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import aliased, joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from fieldsvc.audit.models import AuditEvent
from fieldsvc.audit.services import (
    HistoryEntry,
    TimelineEvent,
    events_about,
    history_from,
    latest_events_about,
    referenced_ids,
)
from fieldsvc.auth.models import User
from fieldsvc.customers.models import Contact, Customer, Equipment, Site
from fieldsvc.database import (
    loaded_instance,
    plain_columns,
    plain_record_statement,
    plain_record_type,
    plain_rows,
    utcnow,
)
from fieldsvc.extensions import db
from fieldsvc.incidents import search
from fieldsvc.incidents.models import (
    OPEN_STATUSES,
    FollowUp,
    Incident,
    IncidentEquipment,
    IncidentStatus,
    ReportedVia,
    Severity,
    WorkLogEntry,
)
from fieldsvc.incidents.services import (
    customers_visible_for,
    incidents_visible_for,
    incidents_visible_to,
    overdue_follow_up_exists,
    visibility_key,
)
from fieldsvc.parts import services as parts_services
from fieldsvc.proposals import services as proposal_services

# --- the incident page ------------------------------------------------------------------


def _has_any(name: str) -> ColumnElement[bool]:
    model = Incident.__mapper__.relationships[name].mapper.class_
    return select(model.id).where(model.incident_id == Incident.id).exists()


def get_visible_incident_with(
    user: User, incident_id: int, plain: tuple[str, ...]
) -> tuple[Incident, dict[str, list]] | None:
    """The incident if `user` may see it, with its customer, site, reporter, who recorded
    it and its work log, and its collections named in `plain` read as `plain_collections`
    reads them. Whether it has any of each is asked in the incident's statement, so a
    collection it has none of (no photos yet, no part order) costs no statement.

    The incident and what it points at are read as plain rows on the session's connection
    (one row per work log entry) and made the session's objects (`loaded_instance`), as a
    query with joined loads would give them, at a fraction of the ORM's cost of loading
    them; an object the session already holds is taken as it is."""
    statement, shares = _shown_incident_statement(*visibility_key(user), plain)
    session = db.session()
    rows = plain_rows(session, statement, {"incident_id": incident_id}).all()
    if not rows:
        return None
    first = rows[0]
    incident = loaded_instance(session, Incident, _share(first, shares["incident"]))
    for name, model in _SHOWN_WITH_INCIDENT.items():
        values = _share(first, shares[name])
        found = None if values["id"] is None else loaded_instance(session, model, values)
        set_committed_value(incident, name, found)
    work_log = [
        loaded_instance(session, WorkLogEntry, _share(row, shares["work_log"]))
        for row in rows
        if row[shares["work_log"][0]] is not None
    ]
    set_committed_value(incident, "work_log", work_log)
    held = []
    for name, present in zip(plain, first[len(first) - len(plain) :], strict=True):
        if present:
            held.append(name)
        else:
            set_committed_value(incident, name, [])
    return incident, {name: [] for name in plain} | plain_collections(incident.id, held)


# What the incident page shows of what the incident points at, by relationship.
_SHOWN_WITH_INCIDENT: dict[str, type] = {
    "customer": Customer,
    "site": Site,
    "reporter_contact": Contact,
    "created_by": User,
}


def _share(row: Any, share: tuple[int, int, tuple[str, ...]]) -> dict[str, Any]:
    """One record's columns of a joined row, by attribute name."""
    start, end, keys = share
    return dict(zip(keys, row[start:end], strict=True))


@lru_cache(maxsize=256)
def _shown_incident_statement(
    admin: bool, team_id: int | None, asked: tuple[str, ...]
) -> tuple[Select, dict[str, tuple[int, int, tuple[str, ...]]]]:
    """The incident if visible, joined with what `get_visible_incident_with` makes objects
    of (each record's columns labelled after its name), and for each collection named in
    `asked` whether the incident has any; where each record's columns are in a row."""
    entities = {"incident": Incident, **_SHOWN_WITH_INCIDENT, "work_log": WorkLogEntry}
    columns, shares = [], {}
    for name, entity in entities.items():
        share = plain_columns(entity, f"{name}_")
        keys = tuple(prop.key for prop in inspect(entity).mapper.column_attrs)
        shares[name] = (len(columns), len(columns) + len(share), keys)
        columns.extend(share)
    statement = (
        select(*columns, *(_has_any(name).label(f"has_{name}") for name in asked))
        .select_from(Incident)
        .join(Customer, Customer.id == Incident.customer_id)
        .outerjoin(Site, Site.id == Incident.site_id)
        .outerjoin(Contact, Contact.id == Incident.reporter_contact_id)
        .outerjoin(User, User.id == Incident.created_by_id)
        .outerjoin(WorkLogEntry, WorkLogEntry.incident_id == Incident.id)
        .where(Incident.id == bindparam("incident_id"), incidents_visible_for(admin, team_id))
        .order_by(WorkLogEntry.started_at, WorkLogEntry.id)
    )
    return statement, shares


def plain_collections(incident_id: int, names: Sequence[str]) -> dict[str, list]:
    """The incident's collections named, read as plain records (`plain_record_type`): a
    statement each, built once, for a page that only shows them."""
    found = {}
    for name in names:
        if name in _PLAIN_WITH_PARTS:
            found[name] = _PLAIN_WITH_PARTS[name](incident_id)
            continue
        statement, record = _plain_collection(name)
        rows = plain_rows(db.session(), statement, {"incident_id": incident_id})
        found[name] = list(map(record._make, rows))
    return found


def shown_equipment_links(incident_id: int) -> list:
    """The incident's equipment links as plain records (`plain_record_type`), each with
    the `equipment` it points at: one statement, built once."""
    statement, link_type, equipment_type = _shown_equipment_links()
    equipment_at = len(link_type._fields) - 1
    return [
        link_type._make((*row[:equipment_at], equipment_type._make(row[equipment_at:])))
        for row in plain_rows(db.session(), statement, {"incident_id": incident_id})
    ]


@cache
def _shown_equipment_links() -> tuple[Select, type, type]:
    statement = (
        select(*plain_columns(IncidentEquipment, "link_"), *plain_columns(Equipment, "item_"))
        .join(Equipment, Equipment.id == IncidentEquipment.equipment_id)
        .where(IncidentEquipment.incident_id == bindparam("incident_id"))
        .order_by(IncidentEquipment.id)
    )
    return (
        statement,
        plain_record_type(IncidentEquipment, ("__str__",), ("equipment",)),
        plain_record_type(Equipment, ("__str__",)),
    )


# Read with what they are shown with, still one statement each: equipment links with the
# equipment; part orders with their supplier and lines, proposals with their revisions and
# lines (by their own features).
_PLAIN_WITH_PARTS: dict[str, Callable[[int], list]] = {
    "equipment_links": shown_equipment_links,
    "part_orders": parts_services.shown_part_orders,
    "proposals": proposal_services.shown_proposals,
}


# What is asked of the incident's plain records beside their columns.
_PLAIN_METHODS = {
    "attachments": ("__str__",),
    "communications": ("__str__",),
    "follow_ups": ("__str__", "is_overdue"),
    "status_links": ("is_open",),
}


@cache
def _plain_collection(name: str) -> tuple[Select, type]:
    relationship = Incident.__mapper__.relationships[name]
    model = relationship.mapper.class_
    statement = (
        plain_record_statement(model)
        .where(model.incident_id == bindparam("incident_id"))
        .order_by(*(relationship.order_by or ()))
    )
    return statement, plain_record_type(model, _PLAIN_METHODS.get(name, ()))


# --- lists -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    id: int
    name: str


def filter_choices(user: User) -> tuple[list[Choice], list[Choice]]:
    """The customers `user` may see and their sites, each by name: the list's filter
    choices, ids and names only, read in one statement."""
    customers: list[Choice] = []
    sites: list[Choice] = []
    for kind, id_, name in plain_rows(db.session(), _choices_statement(*visibility_key(user)), {}):
        (sites if kind else customers).append(Choice(id_, name))
    return customers, sites


@lru_cache(maxsize=256)
def _choices_statement(admin: bool, team_id: int | None) -> Select:
    visible = customers_visible_for(admin, team_id)
    both = union_all(
        select(literal_column("0").label("kind"), Customer.id, Customer.name).where(visible),
        select(literal_column("1").label("kind"), Site.id, Site.name).where(
            Site.customer_id.in_(select(Customer.id).where(visible))
        ),
    ).subquery()
    return select(both.c.kind, both.c.id, both.c.name).order_by(both.c.kind, both.c.name)


@dataclass
class IncidentFilters:
    status: IncidentStatus | None = None
    customer_id: int | None = None
    site_id: int | None = None
    severity: Severity | None = None
    reported_via: ReportedVia | None = None
    overdue: bool = False
    mine: bool = False
    open_only: bool = False
    text: str = ""
    # More conditions on Incident (the dashboard's drill-downs), already SQL.
    conditions: tuple[ColumnElement[bool], ...] = ()


@dataclass(frozen=True)
class IncidentRow:
    incident: Incident
    overdue: bool


class ListedIncident(NamedTuple):
    """One incident as a list shows it: plain values read in one statement, not the
    incident, its customer, site and equipment built as objects (most of a list's CPU).
    Equal values look the same: a row drawn once is kept by its values (incidents/rows.py),
    so a row is a tuple, quick to make and to hash (a frozen dataclass was three times
    slower at both)."""

    id: int
    reference: str
    status: IncidentStatus
    severity: Severity
    reported_via: ReportedVia
    actual: str
    created_at: datetime
    customer_name: str
    site_name: str | None
    overdue: bool
    equipment_tags: tuple[str, ...] = ()


def list_incidents(
    user: User,
    filters: IncidentFilters,
    *,
    before_id: int | None = None,
    limit: int = 25,
    now: datetime | None = None,
) -> tuple[list[IncidentRow], int | None]:
    """Visible incidents, newest first, `limit` at a time (keyset paging on the id).

    Returns the rows and the id to pass as `before_id` for the next batch (None at the end).
    """
    stmt = _listed(user, filters, (Incident,), before_id=before_id, limit=limit, now=now)
    stmt = stmt.options(
        joinedload(Incident.customer),
        joinedload(Incident.site),
        selectinload(Incident.equipment_links).joinedload(IncidentEquipment.equipment),
    )
    rows = [IncidentRow(incident, bool(late)) for incident, late in db.session.execute(stmt)]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].incident.id if more else None)


@dataclass(frozen=True)
class _RowShape:
    """A list row's columns and joins, built once (aliases: the visibility condition has
    its own subquery on customers)."""

    columns: tuple
    customer: Any
    customer_of_row: ColumnElement[bool]
    site: Any
    site_of_row: ColumnElement[bool]
    equipment_tags: Select


@cache
def _row_shape() -> _RowShape:
    # Built at the first list, not at import: aliases need every mapper configured.
    customer, site = aliased(Customer), aliased(Site)
    return _RowShape(
        columns=(
            Incident.id,
            Incident.reference,
            Incident.status,
            Incident.severity,
            Incident.reported_via,
            Incident.actual,
            Incident.created_at,
            customer.name,
            site.name,
        ),
        customer=customer,
        # `+ 0`: the customer's name is looked up for each row, never a place to start
        # from. With some sampled statistics SQLite otherwise began at every customer and
        # sorted their overdue incidents (1.4 ms at 100,000 incidents against 0.16).
        customer_of_row=customer.id == Incident.customer_id + 0,
        site=site,
        site_of_row=site.id == Incident.site_id,
        equipment_tags=select(IncidentEquipment.incident_id, Equipment.tag)
        .join(Equipment, Equipment.id == IncidentEquipment.equipment_id)
        .where(IncidentEquipment.incident_id.in_(bindparam("incident_ids", expanding=True)))
        .order_by(Equipment.tag),
    )


def list_rows(
    user: User,
    filters: IncidentFilters,
    *,
    before_id: int | None = None,
    limit: int = 25,
    now: datetime | None = None,
) -> tuple[list[ListedIncident], int | None]:
    """The incidents list_incidents returns, as the plain rows a list page shows."""
    shape = _row_shape()
    stmt, params = _row_statement(user, filters, before_id=before_id, limit=limit, now=now)
    found = plain_rows(db.session(), stmt, params).all()
    more = len(found) > limit
    found = found[:limit]
    tags: dict[int, list[str]] = {row[0]: [] for row in found}
    if tags:
        found_tags = plain_rows(
            db.session(), shape.equipment_tags, {"incident_ids": list(tags)}
        ).all()
        for incident_id, tag in found_tags:
            tags[incident_id].append(tag)
    rows = [
        ListedIncident(*row[:-1], overdue=bool(row[-1]), equipment_tags=tuple(tags[row[0]]))
        for row in found
    ]
    return rows, (rows[-1].id if more else None)


# The list's statements without a text search or drill-down, built once for each reader's
# visibility and each set of filters used, their values bound when run: building the
# statement and its cache key was a tenth of the list's time. Who may see what is part of
# the key, never a value bound later.
_ROW_STATEMENTS: dict[tuple, Select] = {}
_ROW_STATEMENTS_KEPT = 512
_FILTERED = ("status", "customer_id", "site_id", "severity", "reported_via")


def _row_statement(
    user: User,
    filters: IncidentFilters,
    *,
    before_id: int | None,
    limit: int,
    now: datetime | None,
) -> tuple[Select, dict[str, Any]]:
    """The list rows' statement and the values to run it with."""
    now = now or utcnow()
    if filters.text.strip() or filters.conditions:
        stmt = _listed(
            user, filters, _row_shape().columns, before_id=before_id, limit=limit, now=now
        )
        return _with_names(stmt), {}
    given = {name: getattr(filters, name) for name in _FILTERED}
    given = {name: value for name, value in given.items() if value is not None}
    if before_id is not None:
        given["before_id"] = before_id
    key = (
        visibility_key(user),
        user.id if filters.mine else None,
        tuple(given),
        filters.overdue,
        filters.mine,
        filters.open_only,
        limit,
    )
    if (stmt := _ROW_STATEMENTS.get(key)) is None:
        placeholders = IncidentFilters(
            **{name: bindparam(name) for name in given if name != "before_id"},
            overdue=filters.overdue,
            mine=filters.mine,
            open_only=filters.open_only,
        )
        stmt = _with_names(
            _listed(
                user,
                placeholders,
                _row_shape().columns,
                before_id=bindparam("before_id") if before_id is not None else None,
                limit=limit,
                now=bindparam("now"),
            )
        )
        if len(_ROW_STATEMENTS) >= _ROW_STATEMENTS_KEPT:
            _ROW_STATEMENTS.clear()
        _ROW_STATEMENTS[key] = stmt
    return stmt, {**given, "now": now}


def _with_names(stmt: Select) -> Select:
    """A list statement with the customer's and the site's names joined in."""
    shape = _row_shape()
    return stmt.join_from(Incident, shape.customer, shape.customer_of_row).outerjoin_from(
        Incident, shape.site, shape.site_of_row
    )


def _listed(
    user: User,
    filters: IncidentFilters,
    columns: tuple,
    *,
    before_id: int | None,
    limit: int,
    now: datetime | None,
) -> Select:
    """The statement behind both lists: `columns` of the visible incidents matching
    `filters`, newest first, and whether each has an overdue follow-up. Values may be
    bound parameters (a statement built once: see _row_statement)."""
    if now is None:
        now = utcnow()
    overdue = overdue_follow_up_exists(now)
    stmt = select(*columns, overdue.label("overdue")).where(incidents_visible_to(user))
    # Newest first along the primary key; a text search along its index's own order.
    newest_first = Incident.id
    if text := filters.text.strip():
        stmt, newest_first = search.matching(stmt, text)
    stmt = stmt.order_by(newest_first.desc()).limit(limit + 1)
    if before_id is not None:
        stmt = stmt.where(newest_first < before_id)
    for column, value in (
        (Incident.status, filters.status),
        (Incident.customer_id, filters.customer_id),
        (Incident.site_id, filters.site_id),
        (Incident.severity, filters.severity),
        (Incident.reported_via, filters.reported_via),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if filters.overdue:
        stmt = stmt.where(overdue)
    if filters.open_only:
        stmt = stmt.where(Incident.status.in_(OPEN_STATUSES))
    if filters.mine:
        # The user's own incidents by their indexes, not a test of every incident read:
        # someone on none of the recent ones would otherwise walk the whole history.
        recorded = aliased(Incident)
        stmt = stmt.where(
            Incident.id.in_(
                union_all(
                    select(FollowUp.incident_id).where(FollowUp.owner_id == user.id),
                    select(recorded.id).where(recorded.created_by_id == user.id),
                )
            )
        )
    if filters.conditions:
        stmt = stmt.where(*filters.conditions)
    return stmt


@dataclass(frozen=True)
class MyDay:
    overdue: list[FollowUp]
    due_today: list[FollowUp]
    open_incidents: list[ListedIncident]


def my_day(user: User, *, now: datetime, day_ends: datetime) -> MyDay:
    """A user's overdue and due-today follow-ups, and the open incidents they are on."""
    follow_ups = db.session.scalars(
        select(FollowUp)
        .join(FollowUp.incident)
        .where(
            FollowUp.owner_id == user.id,
            FollowUp.closed_at.is_(None),
            FollowUp.due_at < day_ends,
            incidents_visible_to(user),
        )
        .options(joinedload(FollowUp.incident).joinedload(Incident.customer))
        .order_by(FollowUp.due_at)
    ).all()
    open_rows, _ = list_rows(user, IncidentFilters(mine=True, open_only=True), limit=200, now=now)
    return MyDay(
        overdue=[f for f in follow_ups if f.due_at < now],
        due_today=[f for f in follow_ups if f.due_at >= now],
        open_incidents=open_rows,
    )


# --- work log and timeline -------------------------------------------------------------


def total_minutes(incident: Incident) -> int:
    return sum(entry.minutes for entry in incident.work_log)


def records_of(incident: Incident, plain: Mapping[str, list] | None = None) -> list[object]:
    """What hangs off the incident in this feature: its timeline is about these too.
    A collection given in `plain` (read by `plain_collections`) is taken from there."""
    return [
        *_collection(incident, "equipment_links", plain),
        *_collection(incident, "attachments", plain),
        *incident.work_log,
        *_collection(incident, "communications", plain),
        *_collection(incident, "follow_ups", plain),
    ]


def _collection(incident: Incident, name: str, plain: Mapping[str, list] | None) -> Sequence:
    """The incident's collection `name`: as given in `plain`, else its mapped rows (read
    only then: `dict.get` with them as the default would load them every time)."""
    return plain[name] if plain and name in plain else getattr(incident, name)


def timeline(incident: Incident, plain: Mapping[str, list] | None = None) -> list[HistoryEntry]:
    """Everything that happened to the incident, what hangs off it, its part orders and
    proposals, oldest first, in words.

    A fixed number of statements whatever its history: the events in one, and the
    customers, sites and contacts it was reported against before a correction in one.
    """
    records = _timeline_records(incident, plain)
    return _told(records, events_about(*records), _in_hand(plain))


@dataclass(frozen=True)
class RecentTimeline:
    entries: list[HistoryEntry]
    earlier: bool  # whether older entries were left out


# The incident page tells the newest steps of a long history; the rest is a link away.
TIMELINE_SHOWN = 60


def latest_timeline(
    incident: Incident, events: int = TIMELINE_SHOWN, plain: Mapping[str, list] | None = None
) -> RecentTimeline:
    """The newest part of the incident's timeline, about `events` audit events, oldest
    first: what its page shows. Only those events are read and told, so a long history
    costs the page no more than a short one. Collections given in `plain` (read by
    `plain_collections`) are taken from there."""
    records = _timeline_records(incident, plain)
    in_hand = _in_hand(plain)
    latest = latest_events_about(*records, newest=events + 1)
    if len(latest) <= events:
        return RecentTimeline(_told(records, latest, in_hand), earlier=False)
    latest = latest[1:]
    # One step (one save by one person) is told as one entry: a step the cut passes
    # through is left out whole, so no entry is shown in part.
    first = latest[0]
    whole_steps = [e for e in latest if (e.at, e.actor_id) != (first.at, first.actor_id)]
    return RecentTimeline(_told(records, whole_steps or latest, in_hand), earlier=True)


def _timeline_records(incident: Incident, plain: Mapping[str, list] | None = None) -> list[Any]:
    orders = _collection(incident, "part_orders", plain)
    proposals = _collection(incident, "proposals", plain)
    revisions = [revision for proposal in proposals for revision in proposal.revisions]
    return [
        incident,
        *records_of(incident, plain),
        *orders,
        *(line for order in orders for line in order.lines),
        *proposals,
        *revisions,
        *(line for revision in revisions for line in revision.lines),
    ]


def _in_hand(plain: Mapping[str, list] | None) -> list[Any]:
    """What plain records were read with that a timeline may name (the equipment linked,
    the part orders' suppliers, the order lines linked from proposal lines): a mapped row
    would be in the session for that."""
    plain = plain or {}
    return [
        *(link.equipment for link in plain.get("equipment_links", ())),
        *(order.supplier for order in plain.get("part_orders", ())),
        *(
            line.part_order_line
            for proposal in plain.get("proposals", ())
            for revision in proposal.revisions
            for line in revision.lines
            if line.part_order_line is not None
        ),
    ]


def _told(
    records: list[Any], events: Sequence[AuditEvent | TimelineEvent], in_hand: Sequence[Any] = ()
) -> list[HistoryEntry]:
    # Held while the history is named: the session keeps only what is referenced.
    earlier = _load_earlier_references(
        [e for e in events if e.object_type in ("Incident", "ProposalRevision")]
    )
    entries = history_from(events, *records, in_hand=in_hand)
    del earlier
    return entries


def _load_earlier_references(events: Sequence[AuditEvent | TimelineEvent]) -> list:
    """Put the customers, sites and contacts these incident and proposal revision events
    name into the session with one statement, so the timeline names them without a query
    for each kind."""
    session = db.session()

    def not_loaded(model: type, field: str) -> set[int]:
        ids = referenced_ids(events, field)
        return {i for i in ids if session.identity_map.get(identity_key(model, i)) is None}

    customer_ids = not_loaded(Customer, "customer_id")
    site_ids = not_loaded(Site, "site_id")
    contact_ids = not_loaded(Contact, "reporter_contact_id") | not_loaded(Contact, "contact_id")
    if not (customer_ids or site_ids or contact_ids):
        return []
    # Each customer with the wanted sites and contacts among its own: a few rows.
    return session.execute(
        select(Customer, Site, Contact)
        .outerjoin(Site, (Site.customer_id == Customer.id) & Site.id.in_(site_ids))
        .outerjoin(Contact, (Contact.customer_id == Customer.id) & Contact.id.in_(contact_ids))
        .where(
            or_(
                Customer.id.in_(customer_ids),
                Customer.id.in_(select(Site.customer_id).where(Site.id.in_(site_ids))),
                Customer.id.in_(select(Contact.customer_id).where(Contact.id.in_(contact_ids))),
            )
        )
    ).all()
