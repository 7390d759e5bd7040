"""How values look on a page. Times are written by fieldsvc.clock, in the reader's zone
unless a zone is given (`{{ visit | clock_time(zone) }}`)."""

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import Flask, current_app, has_request_context, url_for
from flask.ctx import RequestContext
from flask.globals import request_ctx

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
    once per app and mount point, not on every page: a page asks for about twenty. An
    address that takes only ids (`/incidents/<id>/photos/<n>`) is built once per app,
    mount point and endpoint around its ids, then filled with each row's (the incident
    page asks for about forty). Any other address, one relative to the current blueprint,
    and one built outside a request are built by Flask's `url_for` as before."""
    if endpoint.startswith(".") or not has_request_context():
        return url_for(endpoint, **values)
    # The request's context looked up once, not through the `current_app` and `request`
    # proxies: the incident page asks for about sixty addresses, and the lookups were most
    # of their cost.
    here = request_ctx._get_current_object()
    if values and (endpoint != "static" or len(values) != 1 or "filename" not in values):
        ids = tuple(values.values())
        for value in ids:
            if type(value) is not int or value < 0:
                return url_for(endpoint, **values)
        return _ids_address(endpoint, tuple(values), here)(*ids)
    urls = here.app.extensions.get(_KEPT_URLS)
    if urls is None:
        urls = here.app.extensions[_KEPT_URLS] = {}
    key = (here.request.root_path, endpoint, values.get("filename"))
    if (url := urls.get(key)) is None:
        url = urls[key] = url_for(endpoint, **values)
    return url


_KEPT_URLS = "fieldsvc.template_urls"


# An id no real row has, built into an address once and then replaced by each row's id.
_ID_MARK = 9_876_543_210_123


class IdsAddress:
    """An address built around its ids once: the text between them, and which id goes
    where (in the order the caller names them)."""

    __slots__ = ("_order", "_texts")

    def __init__(self, texts: tuple[str, ...], order: tuple[int, ...]) -> None:
        self._texts, self._order = texts, order

    def __call__(self, *ids: int) -> str:
        texts, order = self._texts, self._order
        if len(order) == 1:  # most addresses: one id
            return f"{texts[0]}{ids[order[0]]}{texts[1]}"
        parts = [texts[0]]
        for n, place in enumerate(order, 1):
            parts.append(str(ids[place]))
            parts.append(texts[n])
        return "".join(parts)


def _ids_address(
    endpoint: str, names: tuple[str, ...], here: RequestContext | None = None
) -> IdsAddress | Callable[..., str]:
    here = here or request_ctx._get_current_object()
    urls = here.app.extensions.setdefault("fieldsvc.ids_urls", {})
    key = (here.request.script_root, endpoint, names)
    if (address := urls.get(key)) is None:
        address = urls[key] = _build_ids_address(endpoint, names)
    return address


def _build_ids_address(endpoint: str, names: tuple[str, ...]) -> IdsAddress | Callable[..., str]:
    def built_each_time(*ids: int) -> str:
        return url_for(endpoint, **dict(zip(names, ids, strict=True)))

    # Which of an endpoint's rules builds the address depends on the names given, not on
    # the ids, unless a rule has defaults (`/list` for page 1, `/list/page/<n>` after):
    # such an endpoint's addresses are built each time.
    rules = current_app.url_map._rules_by_endpoint.get(endpoint, [])
    if not rules or any(rule.defaults for rule in rules):
        return built_each_time
    marks = [str(_ID_MARK + n) for n in range(len(names))]
    url = url_for(endpoint, **dict(zip(names, map(int, marks), strict=True)))
    found = sorted((url.find(mark), n) for n, mark in enumerate(marks))
    if any(place < 0 or url.count(marks[n]) != 1 for place, n in found):
        return built_each_time
    texts, start = [], 0
    for place, n in found:
        texts.append(url[start:place])
        start = place + len(marks[n])
    texts.append(url[start:])
    return IdsAddress(tuple(texts), tuple(n for _, n in found))


def row_address(endpoint: str, name: str) -> IdsAddress | Callable[..., str]:
    """The address of one of many rows, built around the id once per app and mount point:
    `detail = row_address('incidents.detail', 'incident_id')`, then `detail(row.id)` for
    each row of a list."""
    return _ids_address(endpoint, (name,))


def init_app(app: Flask) -> None:
    app.add_template_filter(local_time)
    app.add_template_filter(long_date)
    app.add_template_filter(clock_time)
    app.add_template_filter(money)
    app.add_template_filter(percent)
    app.add_template_filter(megabytes)
    app.jinja_env.globals["Role"] = Role
    app.jinja_env.globals["url_for"] = template_url_for
    app.jinja_env.globals["reader_zone"] = clock.reader_zone
