"""A list's incidents as HTML (the incident list, My day).

Each row is drawn by the `incident_row` macro of templates/incidents/_row.html, then kept:
the same incident looks the same to the next reader in the same zone, and a list page's
rows are mostly the ones it showed a moment ago. Drawing a row (a time in the reader's
zone, about fifteen escaped values) was most of the list's rendering. What a row shows is
its key (every value of the row, the reader's zone, the incident page's address and the
macro itself), so a changed incident, another zone or an edited template draws it anew:
nothing kept is ever shown in place of what the row says now.
"""

from collections.abc import Iterable
from functools import lru_cache

from flask import Flask, current_app
from markupsafe import Markup

from fieldsvc import clock
from fieldsvc.incidents.queries import ListedIncident
from fieldsvc.template_filters import row_address

ROW_TEMPLATE = "incidents/_row.html"
# About 500 bytes each: a couple of megabytes per process at most.
KEPT_ROWS = 4096
_KEPT = "fieldsvc.incident_rows"


def incident_rows(rows: Iterable[ListedIncident]) -> Markup:
    """The rows' `<li>` elements, for an `<ol class="incident-list">`."""
    draw = current_app.jinja_env.get_template(ROW_TEMPLATE).module.incident_row
    detail = row_address("incidents.detail", "incident_id")
    zone = clock.reader_zone()
    drawn = current_app.extensions[_KEPT]
    return Markup("".join([drawn(draw, detail, zone, row) for row in rows]))


def _draw(draw, detail, zone, row: ListedIncident) -> str:
    return str(draw(row, detail, zone))


def init_app(app: Flask) -> None:
    # One store per app: what it keeps refers to the app's templates.
    app.extensions[_KEPT] = lru_cache(maxsize=KEPT_ROWS)(_draw)
    app.add_template_global(incident_rows)
