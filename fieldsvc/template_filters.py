"""How values look on a page. Times are written by fieldsvc.clock, in the reader's zone
unless a zone is given (`{{ visit | clock_time(zone) }}`)."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import Flask, current_app, request, url_for

from fieldsvc import clock
from fieldsvc.auth.models import Role
from fieldsvc.money import format_money
from fieldsvc.sizes import megabytes


def local_time(value: datetime | None, zone: ZoneInfo | None = None) -> str:
    """'2026-12-01 09:00 EST'."""
    return clock.format_datetime(value, zone)


def long_date(value: date | datetime | None, zone: ZoneInfo | None = None) -> str:
    """'Tuesday 1 December 2026' (a time is taken in the reader's zone first):
    unambiguous for customers in any country."""
    return clock.format_date(value, zone)


def clock_time(value: datetime | None, zone: ZoneInfo | None = None) -> str:
    """'09:00 EST'."""
    return clock.format_time(value, zone)


def money(value: Decimal | None) -> str:
    return format_money(value, current_app.config["CURRENCY"])


def percent(value: Decimal | None) -> str:
    return "" if value is None else f"{value.normalize():f} %"


def nav_url(endpoint: str) -> str:
    """The address of a page that takes no arguments (the navigation's links): built
    once per app and mount point, not on every page."""
    urls = current_app.extensions.setdefault("fieldsvc.nav_urls", {})
    key = (request.script_root, endpoint)
    if (url := urls.get(key)) is None:
        url = urls[key] = url_for(endpoint)
    return url


# An id no real row has, built into an address once and then replaced by each row's id.
_ID_MARK = 9_876_543_210_123


def row_url(endpoint: str, **value: int) -> str:
    """The address of one of many rows (`row_url('incidents.detail', incident_id=row.id)`):
    the address around the id is built once per app and mount point, not once a row."""
    ((name, row_id),) = value.items()
    urls = current_app.extensions.setdefault("fieldsvc.row_urls", {})
    key = (request.script_root, endpoint, name)
    if (parts := urls.get(key)) is None:
        parts = urls[key] = url_for(endpoint, **{name: _ID_MARK}).split(str(_ID_MARK))
    if len(parts) != 2:
        return url_for(endpoint, **value)
    return f"{parts[0]}{int(row_id)}{parts[1]}"


def init_app(app: Flask) -> None:
    app.add_template_filter(local_time)
    app.add_template_filter(long_date)
    app.add_template_filter(clock_time)
    app.add_template_filter(money)
    app.add_template_filter(percent)
    app.add_template_filter(megabytes)
    app.jinja_env.globals["Role"] = Role
    app.jinja_env.globals["nav_url"] = nav_url
    app.jinja_env.globals["row_url"] = row_url
    app.jinja_env.globals["reader_zone"] = clock.reader_zone
