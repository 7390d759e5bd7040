"""Text search of incidents: a term anywhere in the reference, what was expected, what
happened or the tags of the incident's equipment, ignoring case, found through the
database's own index rather than by reading every incident.

SQLite: `incident_search`, an FTS5 table with the trigram tokenizer over the incidents
table (external content, kept by triggers; see migration 0011), which finds substrings
and hands the matches over newest first. PostgreSQL: pg_trgm GIN indexes on the same
columns, which serve ILIKE. Trigram indexes find terms of three characters or more;
shorter ones are compared row by row as before, newest first, which is quick because a
term that short is found in most incidents.

The equipment tags are kept on the incident (one a line) by the hooks at the end, so the
search reads one row per incident and an index can hold them.
"""

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Select,
    column,
    event,
    func,
    inspect,
    literal_column,
    or_,
    select,
    table,
    update,
)
from sqlalchemy.orm import Session, object_session

from fieldsvc.customers.models import Equipment
from fieldsvc.extensions import db
from fieldsvc.incidents.models import Incident, IncidentEquipment

TRIGRAM = 3  # the shortest term a trigram index can find
TAG_SEPARATOR = "\n"

_incidents = Incident.__table__
SEARCHED = [
    _incidents.c.reference,
    _incidents.c.expected,
    _incidents.c.actual,
    _incidents.c.equipment_tags,
]
_fts = table("incident_search", column("rowid", Integer))
# PostgreSQL's trigram indexes, one a searched column (created by migration 0011).
INDEXES = [f"ix_incidents_search_{c.name}" for c in SEARCHED]


def matching(stmt: Select, text: str) -> tuple[Select, ColumnElement[int]]:
    """`stmt`, a select of incidents, narrowed to those in which `text` occurs; and the
    column to order them by, newest first, and to page on."""
    text = text.strip()
    if len(text) >= TRIGRAM and db.session.get_bind().dialect.name == "sqlite":
        # Joined, not `IN (...)`, and ordered by the index's rowid: FTS5 then reads its
        # matches newest first and the list stops after a page, however many match.
        match = literal_column("incident_search").op("MATCH")(_phrase(text))
        return stmt.join(_fts, _fts.c.rowid == Incident.id).where(match), _fts.c.rowid
    if db.session.get_bind().dialect.name == "postgresql":
        pattern = "%" + _escape_like(text) + "%"
        return stmt.where(or_(*(c.ilike(pattern, escape="/") for c in SEARCHED))), Incident.id
    lowered = text.lower()
    return (
        stmt.where(or_(*(func.lower(c).contains(lowered, autoescape=True) for c in SEARCHED))),
        Incident.id,
    )


def rebuild_indexes(connection: Connection) -> bool:
    """Build PostgreSQL's trigram indexes afresh, after a statement rewrote every incident
    and its transaction committed; False when they need it but only their owner may (the
    app's own role, in production). Run in the transaction that rewrote the incidents, a
    rebuild also indexes each incident's versions from before (they are still that
    transaction's to see), and is left as slow as before it once VACUUM removes them
    (measured at 100,000 incidents: 4.1 ms, and 0.03 ms rebuilt after the commit).

    An UPDATE of every row gives each index a second entry for every incident, at its new
    place in the table; once VACUUM removes the old ones, what is left of a GIN index is
    scattered, and a rare term that shares a trigram with nearly every incident takes
    milliseconds to rule out instead of a tenth of one (measured at 100,000 incidents:
    5 to 9 ms against 0.06 ms freshly built). Incidents updated batch by batch as they
    were added did not do this in the same measurement. `REINDEX` holds off writes to the
    incidents while it runs (about half a second an index at 100,000 incidents), as the
    statement that rewrote them all did. SQLite's FTS5 table needs nothing here.
    """
    if connection.dialect.name != "postgresql":
        return True
    indexes = table("pg_class", column("relname"), column("relowner"))
    owned = select(
        func.bool_and(func.pg_has_role(func.current_user(), indexes.c.relowner, "USAGE"))
    ).where(indexes.c.relname.in_(INDEXES))
    if not connection.execute(owned).scalar_one():
        return False
    for name in INDEXES:
        connection.exec_driver_sql(f"REINDEX INDEX {name}")
    return True


def _phrase(text: str) -> str:
    """`text` as one FTS5 string: with the trigram tokenizer, a substring to find.
    Quoted, so operators (OR, NEAR, *, ^, column filters) are plain characters."""
    return '"' + text.replace('"', '""') + '"'


def _escape_like(text: str) -> str:
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


# --- the equipment tags kept on the incident --------------------------------------------

_LINKS_CHANGED = "incident_search_links_changed"
_TAGS_RENAMED = "incident_search_tags_renamed"


def _note(target, key: str, *ids: int | None) -> None:
    if (session := object_session(target)) is not None:
        session.info.setdefault(key, set()).update(i for i in ids if i is not None)


# Mapper events: they also see the links a delete-orphan cascade removes during the flush.
@event.listens_for(IncidentEquipment, "after_insert")
@event.listens_for(IncidentEquipment, "after_delete")
def _link_written(mapper, connection, link: IncidentEquipment) -> None:
    _note(link, _LINKS_CHANGED, link.incident_id)


@event.listens_for(IncidentEquipment, "after_update")
def _link_moved(mapper, connection, link: IncidentEquipment) -> None:
    history = inspect(link).attrs.incident_id.history
    _note(link, _LINKS_CHANGED, link.incident_id, *(history.deleted or ()))


@event.listens_for(Equipment, "after_update")
def _equipment_renamed(mapper, connection, equipment: Equipment) -> None:
    if inspect(equipment).attrs.tag.history.has_changes():
        _note(equipment, _TAGS_RENAMED, equipment.id)


@event.listens_for(Session, "after_flush_postexec")
def _keep_equipment_tags(session: Session, flush_context) -> None:
    incident_ids = session.info.pop(_LINKS_CHANGED, set())
    equipment_ids = session.info.pop(_TAGS_RENAMED, set())
    if not (incident_ids or equipment_ids):
        return
    links = IncidentEquipment.__table__
    equipment = Equipment.__table__
    tags = (
        select(func.aggregate_strings(equipment.c.tag, TAG_SEPARATOR))
        .select_from(links.join(equipment, equipment.c.id == links.c.equipment_id))
        .where(links.c.incident_id == _incidents.c.id)
        .scalar_subquery()
    )
    renamed = select(links.c.incident_id).where(links.c.equipment_id.in_(sorted(equipment_ids)))
    # A plain UPDATE: derived state, not a change a person made, so not in the audit trail.
    session.connection().execute(
        update(_incidents)
        .where(or_(_incidents.c.id.in_(sorted(incident_ids)), _incidents.c.id.in_(renamed)))
        .values(equipment_tags=tags)
    )
