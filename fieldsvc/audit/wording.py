"""The audit trail in words: what a timeline says about each event.

One formatter for every page and PDF that shows a history (the incident page, the
dispute pack, a record's page, a proposal's conflict note). It turns the stored
changes (column names and raw values, as `audit.services` wrote them) into what a
person reads:

- fields by the labels people know from the forms, values by the labels the selects
  show, money with the currency, dates and times as the rest of the app shows them,
  references by name;
- a one-line meaning for each event ("Reported PT-107, PT-117 as high severity,
  cause: our technician"), told once for a record and the records created with it;
- internal-only facts marked, so what the customer reads can leave them out.

Each feature says how its records read in its own `wording.py` (labels taken from
its forms and enums, its sentences) and registers it here. Nothing here queries the
database: the caller names the referenced rows beforehand, however many events.
"""

import importlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from functools import cache, cached_property
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Boolean, Column, Date, Numeric
from sqlalchemy import Enum as SAEnum

from fieldsvc.audit.models import AuditEvent
from fieldsvc.clock import reader_zone
from fieldsvc.database import UTCDateTime
from fieldsvc.extensions import db
from fieldsvc.ranges import PERCENTAGE, QUANTITY
from fieldsvc.template_filters import local_time, long_date, money, percent

EMPTY = "—"
REDACTED = "(redacted)"
# The features whose records the audit trail holds; each registers its wording when
# imported. Listed here so every history reads the same whoever asks first.
FEATURES = (
    "fieldsvc.auth.wording",
    "fieldsvc.customers.wording",
    "fieldsvc.incidents.wording",
    "fieldsvc.parts.wording",
    "fieldsvc.proposals.wording",
    "fieldsvc.portal.wording",
    "fieldsvc.imports.wording",
)
# How the app keeps any record rather than what happened: the event says when and by whom.
UNTOLD = frozenset({"id", "created_at", "created_by_id", "updated_at", "version"})
VERBS = {"create": "Added", "update": "Changed", "delete": "Removed"}
# How the audit trail writes a time that is not a column's (UTC ISO 8601).
_UTC_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?\+00:00$")


@dataclass(frozen=True)
class FieldChange:
    field: str  # as stored
    label: str  # as the form names it
    before: str  # in words; "—" when there was none (a creation)
    after: str
    internal: bool = False  # never for the customer's eyes

    def __iter__(self) -> Iterator[str]:
        # Tables read a change as (label, before, after).
        return iter((self.label, self.before, self.after))


@dataclass(frozen=True)
class HistoryEntry:
    event: AuditEvent
    headline: str  # what happened, in one line
    changes: list[FieldChange]  # an update's before → after; what a record was created with

    @cached_property  # asked for each row of the changes' table
    def compares(self) -> bool:
        """Whether the changes read as before → after (else: the values as they were)."""
        if self.event.action in ("create", "delete"):
            return False
        return self.event.action == "update" or any(c.before != EMPTY for c in self.changes)


class InWords(dict):
    """Field -> a stored value in words, each worked out when first asked for: a timeline
    tells only some of an event's fields (not how the app keeps a record: its id, its
    version, when and by whom it was created), so the others are never put into words.
    Ask for a field by name (`[]`, `get`, `in`): iterating gives only those asked for.

    `how` is what `_in_words` needs beside the field and its value (the record's wording
    and columns, the names of referenced rows, the reader's zone); with `none_empty`, a
    value of None reads as EMPTY (a field that had none before a change)."""

    __slots__ = ("_how", "_none_empty", "_stored")

    def __init__(self, stored: Mapping[str, Any], how: tuple, none_empty: bool = False) -> None:
        super().__init__()
        self._stored, self._how, self._none_empty = stored, how, none_empty

    def __missing__(self, name: str) -> str:
        value = self._stored[name]
        if value is None and self._none_empty:
            words = EMPTY
        else:
            wording, columns, names, zone = self._how
            words = _in_words(wording, name, value, columns.get(name), names, zone)
        self[name] = words
        return words

    def __contains__(self, name: object) -> bool:
        return name in self._stored

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self._stored else default


@dataclass
class Facts:
    """One event about a record, in words, with the records created with it."""

    event: AuditEvent
    record: Any | None  # the record now, when the caller has it in hand
    words: InWords  # field -> its value after the event, in words
    raw: dict[str, Any]  # field -> its value after the event, as stored
    before: InWords  # field -> its value before an update, in words ("—" for none)
    internal: bool  # whether internal-only facts may be told
    parts: list["Facts"] = field(default_factory=list)

    def word(self, name: str) -> str:
        return self.words.get(name, EMPTY)

    def lower(self, name: str) -> str:
        """A value inside a sentence: 'High' reads 'high' there (a name keeps its case)."""
        value = self.word(name)
        return value[:1].lower() + value[1:] if not value[1:2].isupper() else value

    def changed(self, name: str) -> bool:
        return name in self.event.changes

    def parts_of(self, model: str) -> list["Facts"]:
        return [part for part in self.parts if part.event.object_type == model]


@dataclass(frozen=True)
class Wording:
    """How one kind of record reads in a timeline."""

    noun: str  # "part order"
    labels: Mapping[str, str] = field(default_factory=dict)  # field -> label, in form order
    # Fields whose stored value the column type does not explain (a code, a key).
    values: Mapping[str, Callable[[Any], str]] = field(default_factory=dict)
    hidden: frozenset[str] = frozenset()  # how the app keeps it, not what happened
    internal: frozenset[str] = frozenset()  # never for the customer's eyes
    part_of: str | None = None  # the field naming the record it belongs to (not repeated)
    # Created in the same step as the record `part_of` names: told with it, in one entry.
    told_with_parent: bool = False
    subject: Callable[[Any], str] | None = None  # the record as a person names it
    created: Callable[[Facts], str] | None = None  # the meaning of its creation
    changed: Callable[[Facts], str | None] | None = None  # the meaning of a change, if any
    brief: Callable[[Facts], str] | None = None  # one line for it inside its parent's entry
    listed: bool = False  # its briefs share one row in the parent's entry ("PT-107, PT-117")


_WORDINGS: dict[str, Wording] = {}
_ACTIONS: dict[str, str] = {}


def register(model: type, wording: Wording) -> None:
    _WORDINGS[model.__name__] = wording


def name_actions(actions: Mapping[str, str]) -> None:
    """Events recorded with `audit.record()`: the action and how it reads."""
    _ACTIONS.update(actions)


@cache
def _load_features() -> None:
    for module in FEATURES:
        importlib.import_module(module)


def wording_of(object_type: str) -> Wording:
    _load_features()
    return _WORDINGS.get(object_type) or Wording(noun=humanise(object_type).lower())


def humanise(name: str) -> str:
    """A stored name a person can read: 'next_follow_up_due_at' -> 'Next follow up due at',
    'PartOrderLine' -> 'Part order line'."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ").strip()
    return spaced[:1].upper() + spaced[1:].lower()


def form_labels(*forms: type, **renamed: str) -> dict[str, str]:
    """The fields of form classes and their labels, in the order the forms show them.

    A unit in the label goes (the value carries it: 'Discount %' reads 'Discount');
    `renamed` gives a label that reads on its own where the form's leans on its
    neighbours ('…or name' -> 'Reporter's name').
    """
    labels: dict[str, str] = {}
    for form in forms:
        unbound = [
            (name, value)
            for klass in reversed(form.__mro__)
            for name, value in vars(klass).items()
            if hasattr(value, "creation_counter") and hasattr(value, "field_class")
        ]
        for name, value in sorted(unbound, key=lambda item: item[1].creation_counter):
            label = value.kwargs.get("label", value.args[0] if value.args else None)
            if isinstance(label, str) and name not in labels:
                labels[name] = label.removesuffix(" %")
    return labels | renamed


def enum_labels(enum: type[Enum]) -> Callable[[Any], str]:
    """A stored value of `enum` as its label (an unknown one humanised, never a crash)."""

    def label(value: Any) -> str:
        try:
            return enum(value).label  # type: ignore[attr-defined]
        except (ValueError, AttributeError):
            return humanise(str(value))

    return label


# --- telling events ---------------------------------------------------------------------------


def tell(
    events: list[AuditEvent],
    names: Mapping[tuple[str, int], str],
    records: Mapping[tuple[str, int], Any],
    *,
    internal: bool = True,
) -> list[HistoryEntry]:
    """The events as a timeline reads them, oldest first; `names` names referenced rows
    by (field, id), `records` holds the records the events are about, where known."""
    zone = reader_zone()  # once for every time told, not once a value
    facts = [
        _facts(event, names, records.get((event.object_type, event.object_id)), internal, zone)
        for event in events
    ]
    told_with = _told_with_parents(facts)
    entries = []
    for item in facts:
        if id(item) in told_with:
            continue
        entries.append(HistoryEntry(item.event, _headline(item), _changes(item)))
    return entries


def _facts(event: AuditEvent, names, record: Any, internal: bool, zone: ZoneInfo) -> Facts:
    raw, old = {}, {}
    for name, values in event.changes.items():
        if isinstance(values, list) and len(values) == 2:
            old[name], raw[name] = values
        else:
            old[name], raw[name] = None, values
    how = (wording_of(event.object_type), _columns(event.object_type), names, zone)
    return Facts(event, record, InWords(raw, how), raw, InWords(old, how, True), internal)


def _told_with_parents(facts: list[Facts]) -> set[int]:
    """Fold each creation made in the same step as its parent's (same flush, same
    actor) into the parent's facts; the ids of the folded ones."""
    created = {
        (f.event.object_type, f.event.object_id): f for f in facts if f.event.action == "create"
    }
    by_table = _names_by_table()
    folded: set[int] = set()
    for item in facts:
        wording = wording_of(item.event.object_type)
        if item.event.action != "create" or not wording.told_with_parent or not wording.part_of:
            continue
        column = _columns(item.event.object_type).get(wording.part_of)
        if column is None or not column.foreign_keys:
            continue
        target = next(iter(column.foreign_keys)).column.table
        parent_type = by_table.get(target)
        parent = created.get((parent_type, item.raw.get(wording.part_of)))
        if (
            parent is not None
            and parent.event.at == item.event.at
            and parent.event.actor_id == item.event.actor_id
        ):
            parent.parts.append(item)
            folded.add(id(item))
    return folded


def _headline(item: Facts) -> str:
    event = item.event
    wording = wording_of(event.object_type)
    if event.action in _ACTIONS:
        return _ACTIONS[event.action]
    told = None
    if event.action == "create" and wording.created is not None:
        told = wording.created(item)
    elif event.action == "update" and wording.changed is not None:
        told = wording.changed(item)
    elif event.action == "delete" and wording.brief is not None:
        told = f"Removed the {wording.noun}: {wording.brief(item)}"
    if told:
        return told
    verb = VERBS.get(event.action)
    if verb is None:
        return humanise(event.action)
    subject = wording.subject(item.record) if wording.subject and item.record is not None else ""
    return f"{verb} {'the ' if not subject else ''}{wording.noun}{' ' + subject if subject else ''}"


def _changes(item: Facts) -> list[FieldChange]:
    """The fields worth telling, in the order the forms show them; then the parts."""
    event = item.event
    wording, untold, order = _derived(event.object_type)
    labels = wording.labels
    last = len(order)
    names = sorted(
        (n for n in event.changes if n not in untold), key=lambda n: (order.get(n, last), n)
    )
    changes = []
    told_as_it_was = event.action in ("create", "delete")
    for name in names:
        after = item.words[name]
        if told_as_it_was and after == EMPTY:
            continue  # a creation tells what it was created with
        before = EMPTY if told_as_it_was else item.before[name]
        label = labels[name] if name in labels else label_of(event.object_type, name)
        changes.append(FieldChange(name, label, before, after, name in wording.internal))
    for part in item.parts:
        part_wording = wording_of(part.event.object_type)
        if part_wording.brief is not None:
            if part_wording.listed and changes and changes[-1].field == part_wording.part_of:
                last = changes.pop()
                changes.append(replace(last, after=f"{last.after}, {part_wording.brief(part)}"))
                continue
            changes.append(
                FieldChange(
                    part_wording.part_of or "",
                    part_wording.noun[:1].upper() + part_wording.noun[1:],
                    EMPTY,
                    part_wording.brief(part),
                )
            )
        else:
            changes.extend(_changes(part))
    return changes


def is_told(object_type: str, name: str) -> bool:
    """Whether a timeline shows this field: the caller names only the rows it refers to."""
    return name not in _untold(object_type)


def _untold(object_type: str) -> frozenset[str]:
    """The fields a timeline never shows for this kind of record."""
    return _derived(object_type)[1]


def _form_order(object_type: str) -> dict[str, int]:
    """Field -> its place in the record's forms."""
    return _derived(object_type)[2]


# Worked out once for each wording (a timeline asks for every field of every event).
_DERIVED: dict[str, tuple[Wording, frozenset[str], dict[str, int]]] = {}


def _derived(object_type: str) -> tuple[Wording, frozenset[str], dict[str, int]]:
    wording = wording_of(object_type)
    known = _DERIVED.get(object_type)
    if known is None or known[0] is not wording:
        part_of = {wording.part_of} if wording.part_of else set()
        order = {name: n for n, name in enumerate(wording.labels)}
        known = _DERIVED[object_type] = (wording, UNTOLD | wording.hidden | part_of, order)
    return known


def label_of(object_type: str, name: str) -> str:
    wording = wording_of(object_type)
    if name in wording.labels:
        return wording.labels[name]
    return humanise(name.removesuffix("_id") if name in _columns(object_type) else name)


# --- values -----------------------------------------------------------------------------------


def _in_words(
    wording: Wording, name: str, value: Any, column: Column | None, names, zone: ZoneInfo
) -> str:
    if value is None or value == "" or value == []:
        return EMPTY
    if value == REDACTED:
        return REDACTED
    if name in wording.values:
        return wording.values[name](value)
    if column is not None:
        if column.foreign_keys:
            return names.get((name, value), f"#{value}")
        return _column_value(column, value, zone)
    return _plain(value, zone)


def _column_value(column: Column, value: Any, zone: ZoneInfo) -> str:
    try:
        return _column_teller(column)(value, zone)
    except (ValueError, TypeError, InvalidOperation):
        pass  # a value its column would not hold today: shown as stored
    return _plain(value, zone)


@cache
def _column_teller(column: Column) -> Callable[[Any, ZoneInfo], str]:
    """How a stored value of `column` reads, worked out once per column from its type (a
    timeline words every value of every event it shows)."""
    kind = column.type
    if isinstance(kind, SAEnum) and kind.enum_class is not None:
        label = enum_labels(kind.enum_class)
        return lambda value, zone: label(value)
    if isinstance(kind, UTCDateTime):
        return lambda value, zone: local_time(datetime.fromisoformat(value), zone)
    if isinstance(kind, Date):
        return lambda value, zone: long_date(date.fromisoformat(value))
    if isinstance(kind, Boolean):
        return lambda value, zone: "Yes" if value else "No"
    if isinstance(kind, Numeric):
        measure = column.info.get("range")
        if measure is PERCENTAGE:
            return lambda value, zone: percent(Decimal(str(value)))
        if measure is QUANTITY or kind.precision != 12:
            return lambda value, zone: f"{Decimal(str(value)).normalize():f}"
        # Numeric(12, 2): money, as every model declares it
        return lambda value, zone: money(Decimal(str(value)))
    return _plain


def _plain(value: Any, zone: ZoneInfo) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):  # a JSON column, e.g. acknowledged tone warnings
        return ", ".join(_plain(item, zone) for item in value) or EMPTY
    if isinstance(value, dict):
        told = (f"{humanise(str(k))}: {_plain(v, zone)}" for k, v in value.items())
        return "; ".join(told) or EMPTY
    if isinstance(value, str) and _UTC_TIME.match(value):
        return local_time(datetime.fromisoformat(value), zone)
    return str(value)


@cache
def _models() -> dict[str, type]:
    return {mapper.class_.__name__: mapper.class_ for mapper in db.Model.registry.mappers}


@cache
def _names_by_table() -> dict[Any, str]:
    return {model.__table__: name for name, model in _models().items()}


@cache
def _columns(object_type: str) -> dict[str, Column]:
    model = _models().get(object_type)
    if model is None or not hasattr(model, "__table__"):
        return {}
    return {column.key: column for column in model.__table__.columns}
