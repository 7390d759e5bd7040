"""How values look on a page. Times are written by fieldsvc.clock, in the reader's zone
unless a zone is given (`{{ visit | clock_time(zone) }}`)."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import Flask, current_app, has_request_context, request, url_for

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


def template_url_for(endpoint: str, /, **values: object) -> str:
    """`url_for` in templates. An address that takes no values (the navigation's links),
    or a static file's (the stylesheets, scripts and icons every page links), is built
    once per app and mount point, not on every page: a page asks for about twenty. Any
    other address, one relative to the current blueprint, and one built outside a
    request are built by Flask's `url_for` as before."""
    if (
        endpoint.startswith(".")
        or (values and (endpoint != "static" or values.keys() != {"filename"}))
        or not has_request_context()
    ):
        return url_for(endpoint, **values)
    urls = current_app.extensions.setdefault("fieldsvc.template_urls", {})
    key = (request.script_root, endpoint, values.get("filename"))
    if (url := urls.get(key)) is None:
        url = urls[key] = url_for(endpoint, **values)
    return url


# An id no real row has, built into an address once and then replaced by each row's id.
_ID_MARK = 9_876_543_210_123


class RowAddress:
    """The address of one of many rows, the part around the id built once per app and
    mount point: `{% set detail = row_address('incidents.detail', 'incident_id') %}`, then
    `detail(row.id)` for each row of a list."""

    __slots__ = ("_after", "_before")

    def __init__(self, before: str, after: str) -> None:
        self._before, self._after = before, after

    def __call__(self, row_id: int) -> str:
        return f"{self._before}{int(row_id)}{self._after}"


def row_address(endpoint: str, name: str) -> RowAddress:
    urls = current_app.extensions.setdefault("fieldsvc.row_urls", {})
    key = (request.script_root, endpoint, name)
    if (address := urls.get(key)) is None:
        before, after = url_for(endpoint, **{name: _ID_MARK}).split(str(_ID_MARK))
        address = urls[key] = RowAddress(before, after)
    return address


def init_app(app: Flask) -> None:
    app.add_template_filter(local_time)
    app.add_template_filter(long_date)
    app.add_template_filter(clock_time)
    app.add_template_filter(money)
    app.add_template_filter(percent)
    app.add_template_filter(megabytes)
    app.jinja_env.globals["Role"] = Role
    app.jinja_env.globals["url_for"] = template_url_for
    app.jinja_env.globals["row_address"] = row_address
    app.jinja_env.globals["reader_zone"] = clock.reader_zone
