"""Times: stored in UTC, shown and typed in the zone of the person who reads them.

The one home for turning a stored time into words and a typed time into UTC:

- a customer reads times in the zone of the incident's site (`site_zone`), a member of
  staff in their own (`user_zone`), and both default to the company's (`company_zone`,
  FIELDSVC_TIMEZONE), which is also the zone of reports, dashboards and "today";
- `reading_in(zone)` sets the zone of whoever reads what is being rendered (a customer's
  e-mail, PDF or status page); without it, `reader_zone()` is the signed-in user's;
- `format_datetime`, `format_time`, `format_date` and `format_stored` write a time with
  its zone's abbreviation ("Tuesday 1 December 2026", "09:00 EST"), so no page shows UTC
  or an ISO timestamp to a person;
- `from_local` reads a wall-clock time typed in a form: a time that does not exist in
  the zone (the hour skipped when clocks go forward) is refused with `NonexistentTime`;
  a time that happens twice (the hour repeated when clocks go back) is taken as the
  first of the two, and is then always shown with its abbreviation (e.g. "01:30 EDT").
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from flask import current_app, g, has_app_context, has_request_context
from flask_login import current_user
from wtforms import DateTimeLocalField, ValidationError

# What the audit trail stores for a time: an ISO timestamp with its UTC offset.
_STORED_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?[+-]\d{2}:\d{2}")
TIME_ZONE_NAME_LENGTH = 64


class NonexistentTime(ValueError):
    """A wall-clock time that never happens in a zone (clocks skip it)."""


# --- zones --------------------------------------------------------------------------------


@cache
def time_zone_names() -> tuple[str, ...]:
    """The zones a site or a person can choose: IANA names of places, and UTC."""
    names = {
        name
        for name in available_timezones()
        if "/" in name and not name.startswith(("Etc/", "SystemV/", "posix/", "right/"))
    }
    return tuple(sorted(names | {"UTC"}))


def time_zone_problem(name: str | None) -> str | None:
    """Why `name` is not a time zone a site or a person can have, or None (None and ""
    mean "the company's")."""
    if not name:
        return None
    if name not in time_zone_names():
        return f"Choose a time zone from the list, like America/New_York; {name!r} is not one."
    return None


def company_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["TIMEZONE"])


def zone_named(name: str | None) -> ZoneInfo:
    """The zone called `name`; the company's for None, "" or a name this system does not
    know (so a zone removed from the tz database cannot make a page fail)."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return company_zone()


def site_zone(site) -> ZoneInfo:
    """The zone a customer reads times in: their site's, or the company's."""
    return zone_named(site.time_zone if site is not None else None)


def user_zone(user) -> ZoneInfo:
    """The zone a member of staff reads and types times in: their own, or the company's."""
    return zone_named(getattr(user, "time_zone", None))


# The signed-in reader's zone, worked out once a request: a list page writes a time per row.
_SIGNED_IN_ZONE = "signed_in_reader_zone"


def reader_zone() -> ZoneInfo:
    """The zone of whoever reads what is being rendered now: the one `reading_in` set,
    else the signed-in user's, else the company's."""
    if not has_app_context():
        return company_zone()
    # g looked up once: a list page asks for the zone once a row.
    here = g._get_current_object()
    if (zone := here.get("reader_zone")) is not None:
        return zone
    if has_request_context():
        # Flask-Login keeps the loaded user in g; current_user loads it the first time.
        user = here.get("_login_user") or current_user._get_current_object()
        if user is not None and user.is_authenticated:
            name = getattr(user, "time_zone", None)
            known = here.get(_SIGNED_IN_ZONE)
            # Kept while the same person with the same zone reads (a sign-in or a changed
            # preference within the request works it out again).
            if known is not None and known[0] is user and known[1] == name:
                return known[2]
            zone = zone_named(name)
            setattr(here, _SIGNED_IN_ZONE, (user, name, zone))
            return zone
    return company_zone()


@contextmanager
def reading_in(zone: ZoneInfo) -> Iterator[ZoneInfo]:
    """Render for a reader in `zone` (a customer's e-mail, PDF or status page)."""
    before = g.get("reader_zone")
    g.reader_zone = zone
    try:
        yield zone
    finally:
        g.reader_zone = before


def zone_label(zone: ZoneInfo, at: datetime | None = None) -> str:
    """'America/New_York (EST)': the zone's name and its abbreviation now (or at `at`)."""
    when = (at or datetime.now(UTC)).astimezone(zone)
    abbreviation = when.tzname()
    return str(zone) if abbreviation == str(zone) else f"{zone} ({abbreviation})"


# --- stored (UTC) to shown ----------------------------------------------------------------


def to_local(value: datetime, zone: ZoneInfo | None = None) -> datetime:
    """`value` in `zone` (the company's when None: reports, dashboards, "today")."""
    return value.astimezone(zone or company_zone())


def format_datetime(value: datetime | None, zone: ZoneInfo | None = None) -> str:
    """'2026-12-01 09:00 EST', in `zone` (the reader's when None); "" for None."""
    if value is None:
        return ""
    return value.astimezone(zone or reader_zone()).strftime("%Y-%m-%d %H:%M %Z")


def format_time(value: datetime | None, zone: ZoneInfo | None = None) -> str:
    """'09:00 EST', in `zone` (the reader's when None); "" for None."""
    if value is None:
        return ""
    return value.astimezone(zone or reader_zone()).strftime("%H:%M %Z")


def format_date(value: date | datetime | None, zone: ZoneInfo | None = None) -> str:
    """'Tuesday 1 December 2026': unambiguous in any country. A time is taken in `zone`
    (the reader's when None) first; a date is a date everywhere."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(zone or reader_zone())
    return f"{value:%A} {value.day} {value:%B %Y}"


def format_stored(value: str, zone: ZoneInfo | None = None) -> str:
    """A value the audit trail stored as text: a time ('2026-11-30T04:05:04+00:00') as
    `format_datetime` writes it, anything else unchanged."""
    if _STORED_TIME.fullmatch(value):
        return format_datetime(datetime.fromisoformat(value), zone)
    return value


# --- typed to stored ----------------------------------------------------------------------


def from_local(value: datetime, zone: ZoneInfo | None = None) -> datetime:
    """A wall-clock time typed in a form (naive) in `zone` (the company's when None), as
    an aware time. Raises NonexistentTime for a time the clocks skip; a time that happens
    twice is the first of the two."""
    zone = zone or company_zone()
    aware = value.replace(tzinfo=zone, fold=0)
    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != value.replace(fold=0):
        skipped = aware.replace(fold=1).utcoffset() - aware.utcoffset()
        raise NonexistentTime(
            f"{value:%H:%M} on {format_date(value.date())} does not exist in {zone}: the clocks go "
            f"forward {_duration(skipped)} that night. Type a time before or after the change."
        )
    return aware.astimezone(UTC)


def _duration(delta: timedelta) -> str:
    minutes = abs(int(delta.total_seconds())) // 60
    if minutes == 60:
        return "an hour"
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes > 60 else f"{minutes} minutes"


def end_of_local_day(now: datetime, zone: ZoneInfo | None = None) -> datetime:
    """Midnight after `now`, in `zone` (the company's when None)."""
    zone = zone or company_zone()
    local = to_local(now, zone)
    return datetime.combine(local.date() + timedelta(days=1), time(), tzinfo=zone)


class LocalDateTimeField(DateTimeLocalField):
    """A date and time typed in the reader's zone (a member of staff's own), which the
    field's help names; a time the clocks skip in that zone is refused next to the field.
    `.data` stays the wall-clock time typed; `utc` is it as stored."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if has_app_context():
            zone_help = f"Your time zone: {zone_label(reader_zone())}."
            self.description = f"{self.description} {zone_help}".strip()

    def process_data(self, value) -> None:
        # A stored (aware) time, e.g. from `obj=`, is shown as the reader's wall clock.
        if isinstance(value, datetime) and value.tzinfo is not None:
            value = value.astimezone(reader_zone()).replace(tzinfo=None)
        super().process_data(value)

    def post_validate(self, form, validation_stopped: bool) -> None:
        if validation_stopped or self.data is None or self.errors:
            return
        try:
            from_local(self.data, reader_zone())
        except NonexistentTime as error:
            raise ValidationError(str(error)) from error

    @property
    def utc(self) -> datetime | None:
        return from_local(self.data, reader_zone()) if self.data is not None else None
