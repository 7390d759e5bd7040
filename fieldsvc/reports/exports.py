"""Reports and the incident list as CSV files, safe to open in a spreadsheet.

UTF-8 with a byte-order mark (without it Excel reads UTF-8 as the local code page and
garbles "Müller" or "—"), a header row, text quoted, CRLF line ends (RFC 4180).

Formula injection (OWASP "CSV Injection"): a text cell that starts with `=`, `+`,
`-`, `@`, a tab or a carriage return would be run as a formula by a spreadsheet, so
it gets a leading `'`, which the spreadsheet shows as text. Amounts and counts are
numbers we produce, not text anyone typed; they are written as numbers, unchanged
(a negative amount stays a number).
"""

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import TypeVar

from flask import Response, current_app

from fieldsvc import clock
from fieldsvc.incidents.queries import IncidentRow
from fieldsvc.reports.services import CostGrouping, CostRow, StepTimes

T = TypeVar("T")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BYTE_ORDER_MARK = "\ufeff"


def neutralise(value: object) -> object:
    """A text a spreadsheet would take for a formula, made plain text; others as given."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_lines(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[str]:
    """The file line by line (so a long export can be streamed), header first."""
    buffer = io.StringIO()
    # Text is quoted and numbers are not, so a spreadsheet keeps amounts as numbers.
    writer = csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC)

    def line(cells: Sequence[object]) -> str:
        writer.writerow(["" if cell is None else neutralise(cell) for cell in cells])
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield BYTE_ORDER_MARK + line(header)
    for row in rows:
        yield line(row)


def csv_response(filename: str, lines: Iterable[str]) -> Response:
    """A download of `lines` (wrap a generator that reads the database in
    `stream_with_context`)."""
    response = Response(lines, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    # Internal figures: no shared cache keeps a copy.
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --- what each file holds --------------------------------------------------------------


def _currency() -> str:
    return current_app.config["CURRENCY"]


def _read_after_header(read: Callable[[], Sequence[T]]) -> Iterator[T]:
    """The rows `read` returns, read only when the first one is asked for: after the
    header line has gone out."""
    yield from read()


def cost_lines(grouping: CostGrouping, read: Callable[[], Sequence[CostRow]]) -> Iterator[str]:
    currency = _currency()
    header = [
        grouping.label,
        "Incidents",
        f"We absorbed ({currency})",
        f"Customer paid before tax ({currency})",
        f"Customer tax ({currency})",
    ]
    return csv_lines(
        header,
        (
            [row.label, row.incidents, row.we_absorbed, row.customer_paid, row.customer_tax]
            for row in _read_after_header(read)
        ),
    )


def hours(value: float | None) -> float | None:
    """Hours as reports show them: to one decimal."""
    return None if value is None else round(value, 1)


def response_time_lines(read: Callable[[], Sequence[StepTimes]]) -> Iterator[str]:
    header = ["Step", "Incidents", "Median (hours)", "90th percentile (hours)"]
    return csv_lines(
        header,
        (
            [s.step, s.incidents, hours(s.median_hours), hours(s.p90_hours)]
            for s in _read_after_header(read)
        ),
    )


def incident_list_lines(rows: Iterable[IncidentRow]) -> Iterator[str]:
    """The incident list's columns; the internal cause stays out: the file leaves the
    app (e-mailed, shared) and anyone who may see the list may export it."""
    zone = clock.company_zone()
    header = [
        "Reference",
        "Status",
        "Severity",
        "Customer",
        "Site",
        "Equipment",
        "Reported via",
        f"Reported at ({zone.key})",
        "Expected",
        "Actual",
        "Follow-up overdue",
    ]
    return csv_lines(header, (_incident_cells(row) for row in rows))


def _incident_cells(row: IncidentRow) -> list[object]:
    incident = row.incident
    return [
        incident.reference,
        incident.status.label,
        incident.severity.label,
        incident.customer.name,
        incident.site.name if incident.site else "",
        ", ".join(item.tag for item in incident.equipment),
        incident.reported_via.label,
        _local(incident.created_at),
        incident.expected or "",
        incident.actual,
        "yes" if row.overdue else "no",
    ]


def _local(value: datetime) -> str:
    return clock.to_local(value).strftime("%Y-%m-%d %H:%M")
