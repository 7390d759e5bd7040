"""Each response-time step's hours by team and calendar month, sorted, so the report of a
year reads a dozen rows per team and merges them instead of every incident of the year.

A month is a calendar month in the zone the cost months are added up in (months.py,
`report_months_zone`), by the incident's `created_at`, as the report selects incidents;
the team is the one that serves the incident's customer now (None: no team serves it).
The reports read the rows only while that zone is the company's (after the zone changed
they read the incidents, with the same figures, until `flask reports rebuild`).

Kept in the same flush as the hours themselves (rollups.py): the months an incident
was in before the flush and is in after it are read again from the incidents, for the
incidents whose hours, time or customer the flush changed, and every month of both
teams when a customer moves to another. Both take the lock the teams' cost months are
kept under (`months.lock_teams`) before they read which team serves a customer, so
two PostgreSQL transactions cannot each write a month without the other's incident.
"""

import sys
from array import array
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, delete, insert, or_, select, union_all

from fieldsvc.incidents.models import Incident
from fieldsvc.reports import months
from fieldsvc.reports.models import TeamMonthSteps

STEP_COLUMNS = (
    "reported_to_sent_hours",
    "sent_to_accepted_hours",
    "accepted_to_resolved_hours",
    "reported_to_resolved_hours",
)
SHOWN = 20

incidents = Incident.__table__
customers = months.customers
kept = TeamMonthSteps.__table__
_SWAP = sys.byteorder != "little"


def pack(hours: Iterable[float]) -> bytes:
    """Hours as the bytes a row keeps: 8-byte doubles, little-endian on any machine, so a
    database copied to a server of the other byte order reads the same hours."""
    values = array("d", hours)
    if _SWAP:
        values.byteswap()
    return values.tobytes()


def unpack(data: bytes) -> array:
    """The hours `pack` wrote, as exactly the same floats."""
    values = array("d")
    values.frombytes(data)
    if _SWAP:
        values.byteswap()
    return values


def _hour_rows(*conditions):
    """The incidents that reached any step, with their team and creation time."""
    return (
        select(
            customers.c.team_id,
            incidents.c.created_at,
            *(incidents.c[name] for name in STEP_COLUMNS),
        )
        .select_from(incidents.join(customers, customers.c.id == incidents.c.customer_id))
        .where(or_(*(incidents.c[name].is_not(None) for name in STEP_COLUMNS)), *conditions)
    )


def _rows_of(connection: Connection, parts: list):
    """`_hour_rows` for each condition in `parts` (a team, or a team's month): one
    statement, each part its own ranges of the indexes (an OR of them made SQLite read
    every part's customers for every part)."""
    statements = [_hour_rows(part) for part in parts]
    return connection.execute(union_all(*statements) if len(statements) > 1 else statements[0])


def sort_out(rows: Iterable, zone: ZoneInfo) -> dict[tuple, tuple[list[float], ...]]:
    """Each (team, month)'s hours per step, sorted, from rows as `_hour_rows` reads them."""
    found: dict[tuple, tuple[list[float], ...]] = {}
    for team, created_at, *hours in rows:
        steps = found.setdefault((team, months.month_of(created_at, zone)), ([], [], [], []))
        for values, value in zip(steps, hours, strict=True):
            if value is not None:
                values.append(value)
    for steps in found.values():
        for values in steps:
            values.sort()
    return found


def _insert(connection: Connection, found: dict[tuple, tuple[list[float], ...]]) -> None:
    if found:
        connection.execute(
            insert(kept),
            [
                {
                    "team_id": team,
                    "month": month,
                    **{
                        name: pack(values) for name, values in zip(STEP_COLUMNS, steps, strict=True)
                    },
                }
                for (team, month), steps in found.items()
            ],
        )


def _in_zone(connection: Connection) -> ZoneInfo | None:
    name = months.zone_added_up_in(connection)
    return None if name is None else ZoneInfo(name)


def rebuild(connection: Connection) -> None:
    """Sort every team's months out again from the incidents, in the zone the cost months
    were just added up in (`months.rebuild` first); nothing while they are not. Under the
    teams' lock: a flush rebuilds them all when a customer's former team is unknown."""
    months.lock_teams(connection)
    connection.execute(delete(kept))
    zone = _in_zone(connection)
    if zone is not None:
        _insert(connection, sort_out(connection.execute(_hour_rows()), zone))


def keep_teams(connection: Connection, zone: ZoneInfo, team_ids: Collection[int | None]) -> None:
    """Every month of these teams again (None: the customers no team serves), after
    customers moved between them; `zone`: the one the months are kept in."""
    if not team_ids:
        return
    months.lock_teams(connection)
    teams = sorted(team_ids, key=months.team_order)
    connection.execute(delete(kept).where(or_(*(months.is_team(kept.c.team_id, t) for t in teams))))
    rows = _rows_of(connection, [months.is_team(customers.c.team_id, t) for t in teams])
    _insert(connection, sort_out(rows, zone))


def keep(connection: Connection, zone: ZoneInfo, places: Collection[tuple[int, datetime]]) -> None:
    """The months of these (customer, created_at) places again: where incidents whose
    hours changed are, and where incidents that moved were and are; `zone`: the one the
    months are kept in."""
    if not places:
        return
    pairs = months.team_months_of(
        connection, {(customer, months.month_of(at, zone)) for customer, at in places}
    )
    months.forget_team_months(connection, kept, pairs)
    rows = _rows_of(connection, months.in_team_months(incidents.c.created_at, pairs, zone))
    _insert(connection, sort_out(rows, zone))


def hours_of(rows: Sequence[Sequence[bytes]]) -> tuple[list[array], ...]:
    """The kept rows' hours (STEP_COLUMNS order per row), as a list of runs per step."""
    runs: tuple[list[array], ...] = ([], [], [], [])
    for row in rows:
        for step, data in zip(runs, row, strict=True):
            if data:
                step.append(unpack(data))
    return runs


# --- checked against the incidents -----------------------------------------------------------


def problems(connection: Connection) -> list[str]:
    """The team months whose hours differ from their incidents' (none while the months
    are not added up: months.problems says so)."""
    zone = _in_zone(connection)
    if zone is None:
        return []
    rows = connection.execute(
        select(kept.c.team_id, kept.c.month, *(kept.c[name] for name in STEP_COLUMNS))
    ).all()
    found: dict[tuple, list] = {}
    for team, month, *steps in rows:
        found.setdefault((team, month), []).append(tuple(bytes(step) for step in steps))
    facts = {
        key: [tuple(pack(values) for values in steps)]
        for key, steps in sort_out(connection.execute(_hour_rows()), zone).items()
    }
    differ = found.keys() ^ facts.keys() | {key for key in found if found[key] != facts.get(key)}
    in_order = sorted(differ, key=lambda key: (*months.team_order(key[0]), key[1]))
    return [
        f"month {month:%Y-%m} of team {team if team is not None else '(none)'}: "
        "response times differ from its incidents"
        for team, month in in_order[:SHOWN]
    ]
