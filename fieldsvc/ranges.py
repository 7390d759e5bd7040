"""What values the domain allows: every amount, quantity, percentage, count, date and
text length a field-service company needs, decided once here and enforced in three
places from the same objects — the form (a validator next to the field), the service
(a FieldError, whichever path calls it) and the database (a CHECK constraint).

Nothing outside these ranges can be stored, so nothing stored can make a page, the PDF
or a total fail: the largest proposal (MAX_PROPOSAL_LINES lines of the largest quantity
at the largest price) still fits the NUMERIC(12, 2) columns, because a proposal's total
is itself held to MONEY.
"""

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from decimal import Decimal as D
from typing import Any

from flask import Flask, abort, request
from sqlalchemy import CheckConstraint, event, inspect
from sqlalchemy.orm import Session
from werkzeug.routing import IntegerConverter
from wtforms.validators import ValidationError

from fieldsvc.errors import DomainError, FieldError


@dataclass(frozen=True)
class Range:
    """A number the domain allows: `low` to `high`, at most `places` decimals."""

    what: str  # as a sentence starts: "Quantity", "Unit price"
    low: Decimal
    high: Decimal
    places: int
    low_included: bool = True
    unit: str = ""  # printed after the bounds: " %", " (one day)"
    noun: str = "the value"  # "Use at most 2 decimals for <noun>."
    between: bool = False  # one message for both ends: "between 0 and 100 %"

    def problem(self, value: Decimal | int | float | None) -> str | None:
        """Why `value` is not allowed, in words for the person who typed it (None: allowed)."""
        if value is None:
            return None
        try:
            number = Decimal(value)
        except (InvalidOperation, TypeError, ValueError):
            return "Enter a number."
        if not number.is_finite():
            return "Enter a number."
        if number < self.low or (not self.low_included and number == self.low):
            if self.between:
                return self.between_message
            if not self.low_included:
                return f"{self.what} must be more than {_show(self.low)}."
            return f"{self.what} cannot be negative." if self.low == 0 else self.between_message
        if number > self.high:
            if self.between:
                return self.between_message
            return f"{self.what} can be at most {_show(self.high)}{self.unit}."
        if number != number.quantize(Decimal(1).scaleb(-self.places)):
            if self.places == 0:
                return f"{self.what} is a whole number."
            return f"Use at most {self.places} decimals for {self.noun}."
        return None

    @property
    def between_message(self) -> str:
        low, high = _show(self.low), _show(self.high)
        return f"{self.what} must be between {low} and {high}{self.unit}."

    def check(self, field: str, value: Decimal | int | None, prefix: str = "") -> None:
        """Raise FieldError(field) when the value is outside the range (services)."""
        if (problem := self.problem(value)) is not None:
            raise FieldError(field, prefix + problem)

    def validator(self):
        """A WTForms validator: the message next to the field, the typed text kept."""

        def validate(form, field) -> None:
            if (problem := self.problem(field.data)) is not None:
                raise ValidationError(problem)

        return validate

    def sql(self, column: str) -> str:
        low = ">=" if self.low_included else ">"
        return f"{column} {low} {self.low} AND {column} <= {self.high}"

    def constraint(self, column: str, name: str | None = None) -> CheckConstraint:
        """The CHECK constraint of this range on `column`, named `<column>_in_range`."""
        return CheckConstraint(self.sql(column), name=name or f"{column}_in_range")


def _show(value: Decimal) -> str:
    return f"{value:,}" if value >= 10000 else f"{value}"


# --- numbers ---------------------------------------------------------------------------------

QUANTITY = Range("Quantity", D("0"), D("100000"), places=2, low_included=False, noun="the quantity")
MONEY = Range("Amount", D("0"), D("10000000"), places=2, noun="money")
PERCENTAGE = Range(
    "Percentage", D("0"), D("100"), places=2, unit=" %", noun="a percentage", between=True
)
WORK_MINUTES = Range("Minutes", D("1"), D("1440"), places=0, unit=" (one day)", between=True)
RETURN_WINDOW_DAYS = Range("The return window", D("0"), D("365"), places=0, unit=" days")
SURVEY_SCORE = Range("The score", D("0"), D("10"), places=0, between=True)

# A revision's list value is held to MONEY too, so its frozen figures (customer pays, tax,
# what we absorb: NUMERIC(12, 2), up to 9,999,999,999.99) always fit whatever the lines.
MAX_PROPOSAL_LINES = 500
MAX_ORDER_LINES = 100


def named(base: Range, what: str) -> Range:
    """The same range under the name of the field it applies to ("Unit price")."""
    return replace(base, what=what)


# --- dates -----------------------------------------------------------------------------------

# The calendar the database accepts; the windows below narrow it around today.
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 1, 1)  # exclusive


@dataclass(frozen=True)
class Window:
    """A date or time the domain allows: from `past` before today to `future` after it."""

    what: str
    past: timedelta
    future: timedelta
    too_late: str = ""  # the message past the last day, when "between" says it badly

    def bounds(self, today: date) -> tuple[date, date]:
        return max(EARLIEST, today - self.past), min(
            LATEST - timedelta(days=1), today + self.future
        )

    def problem(self, value: date | datetime | None, today: date | None = None) -> str | None:
        if value is None:
            return None
        today = today or datetime.now(UTC).date()
        day = value.date() if isinstance(value, datetime) else value
        first, last = self.bounds(today)
        if day > last and self.too_late:
            return f"{self.what} {self.too_late}"
        if not first <= day <= last:
            return f"{self.what} must be between {first:%d %b %Y} and {last:%d %b %Y}."
        return None

    def check(self, field: str, value: date | datetime | None, today: date | None = None) -> None:
        if (problem := self.problem(value, today)) is not None:
            raise FieldError(field, problem)

    def validator(self):
        def validate(form, field) -> None:
            if (problem := self.problem(field.data)) is not None:
                raise ValidationError(problem)

        return validate


def calendar_constraint(column: str) -> CheckConstraint:
    """The database's side of every window: a year a page can show (2000 to 2099)."""
    quoted = f'"{column}"'  # `at` is an SQL keyword
    return CheckConstraint(
        f"{quoted} >= '{EARLIEST.isoformat()}' AND {quoted} < '{LATEST.isoformat()}'",
        name=f"{column}_in_calendar",
    )


YEAR = timedelta(days=365)
# When something happened: incidents, work, calls (the services also refuse the future).
HAPPENED = Window(
    "The date",
    past=20 * YEAR,
    future=timedelta(days=1),
    too_late="cannot be more than a day from now.",
)
# Plans and promises: return visits, offers' validity, follow-ups, deliveries, calibration.
PLANNED = Window("The date", past=20 * YEAR, future=5 * YEAR)


def window(base: Window, what: str) -> Window:
    return replace(base, what=what)


# --- ids and hidden fields -----------------------------------------------------------------

MAX_ID = 2**31 - 1  # INTEGER primary keys on PostgreSQL


def record_id(value: Any) -> int | None:
    """Coerce a select's value to a record id; anything else is not a choice (ValueError)."""
    if value in (None, "", "None"):
        return None
    number = int(str(value).strip())
    if not 1 <= number <= MAX_ID:
        raise ValueError("not a record id")
    return number


def required_record_id(value: Any) -> int:
    number = record_id(value)
    if number is None:
        raise ValueError("no record chosen")
    return number


class MalformedField(DomainError):
    """A hidden field the page itself filled in came back as something else (400)."""


def hidden_number(value: str | None, name: str) -> int:
    """The integer a hidden field carries (a version, a sequence number, an id)."""
    text = (value or "0").strip()
    if not text.isdigit() or len(text) > 10 or int(text) > MAX_ID:
        raise MalformedField(
            f"The form came back with a broken hidden field ({name}); nothing was saved. "
            "Reload the page and try again."
        )
    return int(text)


class RecordIdConverter(IntegerConverter):
    """`<int:...>` in URLs: a number too large for an id is no record (404), not an error."""

    def __init__(self, map, *args, **kwargs) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


# --- text ------------------------------------------------------------------------------------

TEXT_MAX = 5000  # free text (descriptions, notes, comments): what every form allows


# The bodies Flask reads into request.form; any other body leaves it empty, so a request
# without one (every page view) does not build an empty form to look through.
_FORM_BODIES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def _refuse_nul_characters() -> None:
    # No column can hold U+0000 (PostgreSQL refuses it) and no person types it.
    sent = (request.args, request.form) if request.mimetype in _FORM_BODIES else (request.args,)
    for values in sent:
        for key, value in values.items(multi=True):
            if "\x00" in key or "\x00" in value:
                abort(400, "The form holds a character that cannot be stored (U+0000).")


# --- the database's last word, for every path ------------------------------------------------


def _check_before_flush(session: Session, flush_context, instances) -> None:
    """Text longer than its column and values outside a column's range stop the flush
    with a DomainError (400), whichever service or command made them."""
    for obj in (*session.new, *session.dirty):
        mapper = inspect(obj).mapper
        state = inspect(obj)
        for column in mapper.columns:
            key = mapper.get_property_by_column(column).key
            history = state.attrs[key].history
            if not history.added:
                continue
            value = history.added[0]
            if value is None:
                continue
            length = getattr(column.type, "length", None)
            if isinstance(value, str) and length and len(value) > length:
                raise DomainError(
                    f"{_label(key)} can be at most {length} characters; nothing was saved."
                )
            allowed = column.info.get("range")
            if isinstance(allowed, Range) and (problem := allowed.problem(value)) is not None:
                raise DomainError(f"{_label(key)}: {problem}")


def _label(key: str) -> str:
    return key.removesuffix("_id").replace("_", " ").capitalize()


def init_app(app: Flask) -> None:
    app.url_map.converters["int"] = RecordIdConverter
    app.before_request(_refuse_nul_characters)


event.listen(Session, "before_flush", _check_before_flush)
