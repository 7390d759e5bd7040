"""The cost entries added up by calendar month, so a report over years reads a row per
customer and month (and the two partial months at its edges from the entries).

A month is a calendar month in the company's time zone, as the reports' periods are.
The rows are added up in the zone named in `report_months_zone`; the reports read them
only while that is the company's zone (after the zone changed they read the entries,
with the same figures, until `flask reports rebuild` adds the months up again).

Each incident is counted once in a period however many of its revisions were accepted
in it: an entry counts its incident when the incident's acceptance before it (by time,
then revision) is before the period's start, or there is none. The rows therefore keep
that earlier acceptance time apart (`previous_accepted_at`, None for nearly all).

Kept in the same flush as the cost entries (rollups.py): the months of the entries of
the incidents a flush touched, before and after, are added up again from the entries.

The month rows are added up once more by the team that serves their customer
(`team_months`), so the groupings by month, technician and cause read a row per month,
technician and cause for a team, not one per customer: kept for the teams and months
a flush changed, and for every month of both teams when a customer moves to another.

They are added up per customer and month as well (`customer_months`, whatever the
technician and cause), so the grouping by customer reads a row per customer and month:
kept for the same customers and months as the month rows, under the same locks.

The dashboard's counts are kept by team and month as well (`team_month_counts`): the
incidents reported with each cause and the customers' answers of each kind, counted
for the team that serves the customer now. A flush that creates an incident or an
answer, or changes what decides where one is counted (its time, its customer, the
incident's cause), counts the months it was and is in again from the incidents and
answers themselves, under the same lock as the teams' months; a customer moving to
another team counts every month of both teams again. They are counted in the zone of
`report_months_zone` and read only while it is the company's, as the months are.
"""

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, true

from fieldsvc.customers.models import Customer
from fieldsvc.incidents.models import Incident
from fieldsvc.portal.models import CustomerResponse
from fieldsvc.proposals.models import Proposal, ProposalRevision
from fieldsvc.reports.models import (
    CostEntry,
    CustomerMonth,
    ReportMonth,
    ReportMonthsZone,
    TeamMonth,
    TeamMonthCount,
)

entries = CostEntry.__table__
months = ReportMonth.__table__
team_months = TeamMonth.__table__
customer_months = CustomerMonth.__table__
built_zone = ReportMonthsZone.__table__
customers = Customer.__table__
counts = TeamMonthCount.__table__
incidents = Incident.__table__
answers = CustomerResponse.__table__
revisions = ProposalRevision.__table__
proposals = Proposal.__table__
ZERO = Decimal("0.00")
SHOWN = 20

# What a month row is keyed by, in the order of its columns.
KEY = ("customer_id", "month", "technician_id", "cause_category", "previous_accepted_at")
FIGURES = ("revisions", "we_absorb", "customer_pays", "customer_tax")
TEAM_KEY = ("team_id", *KEY[1:])
CUSTOMER_KEY = ("customer_id", "month", "previous_accepted_at")


def month_of(moment: datetime, zone: ZoneInfo) -> date:
    """The first day of the calendar month `moment` falls in, in `zone`."""
    return moment.astimezone(zone).date().replace(day=1)


def following(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def month_start(month: date, zone: ZoneInfo) -> datetime:
    """The instant a month begins (local midnight of its first day)."""
    return datetime.combine(month, time(), tzinfo=zone)


def previous_acceptance():
    """SQL, per cost entry: the acceptance of its incident just before it (by time, then
    revision), or NULL for its first."""
    earlier = entries.alias("earlier")
    return (
        select(func.max(earlier.c.accepted_at))
        .where(
            earlier.c.incident_id == entries.c.incident_id,
            or_(
                earlier.c.accepted_at < entries.c.accepted_at,
                and_(
                    earlier.c.accepted_at == entries.c.accepted_at,
                    earlier.c.revision_id < entries.c.revision_id,
                ),
            ),
        )
        .scalar_subquery()
    )


def _entry_rows(condition=None):
    stmt = select(
        entries.c.customer_id,
        entries.c.accepted_at,
        entries.c.technician_id,
        entries.c.cause_category,
        previous_acceptance(),
        entries.c.we_absorb,
        entries.c.customer_pays,
        entries.c.customer_tax,
    )
    return stmt if condition is None else stmt.where(condition)


def add_up(rows: Iterable, zone: ZoneInfo) -> dict[tuple, list]:
    """Month rows (KEY -> FIGURES) from entry rows as `_entry_rows` reads them; money
    exactly, as Decimal (an amount left empty counts as zero, as in the reports)."""
    sums: dict[tuple, list] = {}
    for customer, accepted_at, technician, cause, previous, absorb, pays, tax in rows:
        key = (customer, month_of(accepted_at, zone), technician, cause, previous)
        figures = sums.setdefault(key, [0, ZERO, ZERO, ZERO])
        figures[0] += 1
        figures[1] += absorb or ZERO
        figures[2] += pays or ZERO
        figures[3] += tax or ZERO
    return sums


def _insert(connection: Connection, sums: dict[tuple, list]) -> None:
    if sums:
        connection.execute(
            insert(months),
            [
                dict(zip(KEY + FIGURES, (*key, *figures), strict=True))
                for key, figures in sums.items()
            ],
        )


def zone_added_up_in(connection: Connection) -> str | None:
    """The zone the month rows are added up in (None: not added up)."""
    return connection.scalar(select(built_zone.c.zone))


def rebuild(connection: Connection, zone: ZoneInfo, *, teams: bool = True) -> None:
    """Add every month up again from the cost entries, in `zone` (the company's), and
    by customer and by team (`teams=False`: only the month rows, for the migration that
    came before the months added up again)."""
    connection.execute(delete(months))
    connection.execute(delete(built_zone))
    connection.execute(insert(built_zone).values(zone=zone.key))
    _insert(connection, add_up(connection.execute(_entry_rows()), zone))
    if teams:
        rebuild_customers(connection)
        rebuild_teams(connection)
        rebuild_counts(connection, zone)


def _customer_sums(*conditions):
    """The month rows added up per customer and month (and earlier acceptance), in
    CUSTOMER_KEY and FIGURES order."""
    key = tuple(months.c[name] for name in CUSTOMER_KEY)
    return (
        select(*key, *(func.sum(months.c[name]) for name in FIGURES))
        .where(*conditions)
        .group_by(*key)
    )


def _insert_customers(connection: Connection, *conditions) -> None:
    connection.execute(
        insert(customer_months).from_select(CUSTOMER_KEY + FIGURES, _customer_sums(*conditions))
    )


def rebuild_customers(connection: Connection) -> None:
    """Add every customer's months up again from the month rows."""
    connection.execute(delete(customer_months))
    _insert_customers(connection)


def _team_sums(*conditions):
    """The month rows added up by the team that serves their customer now, in TEAM_KEY
    and FIGURES order."""
    key = (customers.c.team_id, *(months.c[name] for name in KEY[1:]))
    return (
        select(*key, *(func.sum(months.c[name]) for name in FIGURES))
        .select_from(months.join(customers, customers.c.id == months.c.customer_id))
        .where(*conditions)
        .group_by(*key)
    )


def _insert_teams(connection: Connection, *conditions) -> None:
    connection.execute(insert(team_months).from_select(TEAM_KEY + FIGURES, _team_sums(*conditions)))


def rebuild_teams(connection: Connection) -> None:
    """Add every team's months up again from the month rows."""
    connection.execute(delete(team_months))
    _insert_teams(connection)


def is_team(column, value):
    """`column` (a team id) is `value`, None included: customers no team serves."""
    return column.is_(None) if value is None else column == value


def keep_teams(connection: Connection, team_ids: Collection[int | None]) -> None:
    """Add up again every month of these teams (None: the customers no team serves),
    after customers moved between them."""
    if not team_ids:
        return
    lock_teams(connection)
    teams = sorted(team_ids, key=team_order)
    connection.execute(
        delete(team_months).where(or_(*(is_team(team_months.c.team_id, t) for t in teams)))
    )
    _insert_teams(connection, or_(*(is_team(customers.c.team_id, t) for t in teams)))


def lock_teams(connection: Connection) -> None:
    """One flush at a time adds up teams' months (PostgreSQL: a team's month sums the
    rows of all its customers, which another transaction may be changing). Taken after
    the customers' locks, as a customer's team change holds its customer first."""
    connection.execute(select(built_zone.c.zone).with_for_update()).all()


def team_months_of(
    connection: Connection, pairs: Collection[tuple[int, date]]
) -> list[tuple[int | None, date]]:
    """The (team, month) of each (customer, month) of `pairs`, in the order teams are
    locked. Read once this flush holds the teams' lock (`lock_teams`), which a customer's
    move to another team takes too: a move that committed before it is seen (PostgreSQL)."""
    lock_teams(connection)
    team_of = dict(
        connection.execute(
            select(customers.c.id, customers.c.team_id).where(
                customers.c.id.in_(sorted({customer for customer, _ in pairs}))
            )
        ).all()
    )
    return _in_team_order({(team_of.get(customer), month) for customer, month in pairs})


def team_order(team: int | None) -> tuple:
    """The order teams are locked and listed in: no team first, then by id."""
    return (team is not None, team or 0)


def _in_team_order(team_month) -> list[tuple[int | None, date]]:
    return sorted(team_month, key=lambda pair: (*team_order(pair[0]), pair[1]))


def forget_team_months(connection: Connection, table, team_month) -> None:
    """Delete the rows of these (team, month) from a table kept per team and month."""
    connection.execute(
        delete(table).where(
            or_(
                *(
                    and_(is_team(table.c.team_id, team), table.c.month == month)
                    for team, month in team_month
                )
            )
        )
    )


def in_team_months(column, team_month, zone: ZoneInfo) -> list:
    """A condition per (team, month): a customer of the team, `column` in the month."""
    return [
        and_(
            is_team(customers.c.team_id, team),
            column >= month_start(month, zone),
            column < month_start(following(month), zone),
        )
        for team, month in team_month
    ]


# --- kept on every flush ------------------------------------------------------------------


@dataclass(frozen=True)
class Touched:
    """The zone the months are kept in and the months of some incidents' entries."""

    zone: ZoneInfo | None
    months: frozenset[tuple[int, date]]


def months_of(
    connection: Connection, incident_ids: Collection[int], zone: ZoneInfo | None = None
) -> Touched:
    """The (customer, month) of each cost entry of these incidents; call it before and
    after the entries change, and `keep` with both."""
    if zone is None:
        name = zone_added_up_in(connection)
        if name is None:
            return Touched(None, frozenset())
        zone = ZoneInfo(name)
    rows = connection.execute(
        select(entries.c.customer_id, entries.c.accepted_at).where(
            entries.c.incident_id.in_(sorted(incident_ids))
        )
    )
    return Touched(zone, frozenset((customer, month_of(at, zone)) for customer, at in rows))


def keep(connection: Connection, before: Touched, incident_ids: Collection[int]) -> None:
    """Add up again the months these incidents' entries were in (`before`) or are in now."""
    if before.zone is None:
        return
    zone = before.zone
    changed = before.months | months_of(connection, incident_ids, zone).months
    if not changed:
        return
    # One flush at a time adds up a customer's months (PostgreSQL: two transactions
    # would each delete the rows they saw and insert their own sums; SQLite has one
    # writer already).
    team_of = dict(
        connection.execute(
            select(customers.c.id, customers.c.team_id)
            .where(customers.c.id.in_(sorted({customer for customer, _ in changed})))
            .order_by(customers.c.id)
            .with_for_update()
        ).all()
    )

    def same_months(table):
        return or_(
            *(
                and_(table.c.customer_id == customer, table.c.month == month)
                for customer, month in sorted(changed)
            )
        )

    connection.execute(delete(months).where(same_months(months)))
    ranges = or_(
        *(
            and_(
                entries.c.customer_id == customer,
                entries.c.accepted_at >= month_start(month, zone),
                entries.c.accepted_at < month_start(following(month), zone),
            )
            for customer, month in sorted(changed)
        )
    )
    _insert(connection, add_up(connection.execute(_entry_rows(ranges)), zone))
    # The same customers' months without technician and cause, under the same locks.
    connection.execute(delete(customer_months).where(same_months(customer_months)))
    _insert_customers(connection, same_months(months))
    # The same months of the customers' teams, from the month rows just written.
    lock_teams(connection)
    team_month = _in_team_order({(team_of.get(customer), month) for customer, month in changed})
    forget_team_months(connection, team_months, team_month)
    _insert_teams(
        connection,
        or_(
            *(
                and_(is_team(customers.c.team_id, team), months.c.month == month)
                for team, month in team_month
            )
        ),
    )


# --- the dashboard's counts per team and month ----------------------------------------------

COUNT_KEY = ("team_id", "month", "cause_category", "answer_kind")


def _incident_rows(*conditions):
    """(team, reported at, cause) of the incidents meeting `conditions`, the team being
    the one that serves their customer now."""
    return (
        select(customers.c.team_id, incidents.c.created_at, incidents.c.cause_category)
        .select_from(incidents.join(customers, customers.c.id == incidents.c.customer_id))
        .where(*conditions)
    )


def _answer_rows(*conditions):
    """(team, answered at, kind) of the customers' answers meeting `conditions`."""
    return (
        select(customers.c.team_id, answers.c.created_at, answers.c.kind)
        .select_from(
            answers.join(revisions, revisions.c.id == answers.c.revision_id)
            .join(proposals, proposals.c.id == revisions.c.proposal_id)
            .join(incidents, incidents.c.id == proposals.c.incident_id)
            .join(customers, customers.c.id == incidents.c.customer_id)
        )
        .where(*conditions)
    )


def count_up(incident_rows: Iterable, answer_rows: Iterable, zone: ZoneInfo) -> dict[tuple, int]:
    """Count rows (COUNT_KEY -> counted) from incident and answer rows as `_incident_rows`
    and `_answer_rows` read them."""
    counted: dict[tuple, int] = {}
    for team, at, cause in incident_rows:
        key = (team, month_of(at, zone), cause, None)
        counted[key] = counted.get(key, 0) + 1
    for team, at, kind in answer_rows:
        key = (team, month_of(at, zone), None, kind)
        counted[key] = counted.get(key, 0) + 1
    return counted


def _count(connection: Connection, zone: ZoneInfo, incidents_where, answers_where) -> None:
    counted = count_up(
        connection.execute(_incident_rows(incidents_where)),
        connection.execute(_answer_rows(answers_where)),
        zone,
    )
    if counted:
        connection.execute(
            insert(counts),
            [
                dict(zip((*COUNT_KEY, "counted"), (*key, n), strict=True))
                for key, n in counted.items()
            ],
        )


def rebuild_counts(connection: Connection, zone: ZoneInfo) -> None:
    """Count every team's months again from the incidents and answers, in `zone`."""
    connection.execute(delete(counts))
    _count(connection, zone, true(), true())


def keep_team_counts(connection: Connection, team_ids: Collection[int | None]) -> None:
    """Count every month of these teams again (None: the customers no team serves),
    after customers moved between them."""
    name = zone_added_up_in(connection)
    if not team_ids or name is None:
        return
    lock_teams(connection)
    teams = sorted(team_ids, key=team_order)
    connection.execute(delete(counts).where(or_(*(is_team(counts.c.team_id, t) for t in teams))))
    served = or_(*(is_team(customers.c.team_id, t) for t in teams))
    _count(connection, ZoneInfo(name), served, served)


@dataclass(frozen=True)
class Counted:
    """Where some incidents and answers are counted: the zone the counts are kept in and
    the (customer, month) of each."""

    zone: ZoneInfo | None
    months: frozenset[tuple[int, date]]


def counted_in(
    connection: Connection,
    *,
    incident_ids: Collection[int] = (),
    answers_of_incidents: Collection[int] = (),
    answer_ids: Collection[int] = (),
    answers_of_proposals: Collection[int] = (),
    answers_of_revisions: Collection[int] = (),
    zone: ZoneInfo | None = None,
) -> Counted:
    """The (customer, month) these incidents and answers are counted in (the answers by
    id, or all of some incidents', proposals' or revisions'); call it before and after
    they change, and `keep_counts` with both."""
    if zone is None:
        name = zone_added_up_in(connection)
        if name is None:
            return Counted(None, frozenset())
        zone = ZoneInfo(name)
    found = set()
    if incident_ids:
        found |= set(
            connection.execute(
                select(incidents.c.customer_id, incidents.c.created_at).where(
                    incidents.c.id.in_(sorted(incident_ids))
                )
            )
        )
    answered = [
        column.in_(sorted(ids))
        for column, ids in (
            (proposals.c.incident_id, answers_of_incidents),
            (answers.c.id, answer_ids),
            (proposals.c.id, answers_of_proposals),
            (revisions.c.id, answers_of_revisions),
        )
        if ids
    ]
    if answered:
        found |= set(
            connection.execute(
                select(incidents.c.customer_id, answers.c.created_at)
                .select_from(
                    answers.join(revisions, revisions.c.id == answers.c.revision_id)
                    .join(proposals, proposals.c.id == revisions.c.proposal_id)
                    .join(incidents, incidents.c.id == proposals.c.incident_id)
                )
                .where(or_(*answered))
            )
        )
    return Counted(zone, frozenset((customer, month_of(at, zone)) for customer, at in found))


def keep_counts(connection: Connection, before: Counted, after: Counted) -> None:
    """Count again the teams' months some incidents and answers were in (`before`) or are
    in now (`after`), from the incidents and answers themselves."""
    if before.zone is None or after.zone is None:
        return
    zone = after.zone
    changed = before.months | after.months
    if not changed:
        return
    # One flush at a time counts a team's months.
    team_month = team_months_of(connection, changed)
    forget_team_months(connection, counts, team_month)
    _count(
        connection,
        zone,
        or_(*in_team_months(incidents.c.created_at, team_month, zone)),
        or_(*in_team_months(answers.c.created_at, team_month, zone)),
    )


# --- checked against the cost entries --------------------------------------------------------


def problems(connection: Connection, zone: ZoneInfo) -> list[str]:
    """What differs between the month rows and the cost entries, and whether the months
    are added up in `zone` (the company's)."""
    name = zone_added_up_in(connection)
    if name is None:
        return ["monthly figures are not added up: run `flask reports rebuild`"]
    found = []
    if name != zone.key:
        found.append(
            f"monthly figures are added up in {name}, the company's time zone is {zone.key}: "
            "reports read every accepted revision until `flask reports rebuild`"
        )
    kept = {
        tuple(row[: len(KEY)]): list(row[len(KEY) :])
        for row in connection.execute(select(*(months.c[c] for c in KEY + FIGURES)))
    }
    facts = add_up(connection.execute(_entry_rows()), ZoneInfo(name))
    for key in sorted(kept.keys() ^ facts.keys() | {k for k in kept if kept[k] != facts.get(k)},
                      key=lambda k: (k[0], k[1], str(k[2:])))[:SHOWN]:  # fmt: skip
        found.append(f"month {key[1]:%Y-%m} of customer {key[0]}: differs from its cost entries")
    found += _customer_problems(connection)
    found += _team_problems(connection)
    found += _count_problems(connection, ZoneInfo(name))
    return found


def _customer_problems(connection: Connection) -> list[str]:
    """The customers' months (without technician and cause) that differ from their month
    rows."""
    width = len(CUSTOMER_KEY)
    kept = {
        tuple(row[:width]): [int(row[width]), *row[width + 1 :]]
        for row in connection.execute(
            select(*(customer_months.c[c] for c in CUSTOMER_KEY + FIGURES))
        )
    }
    facts = {
        tuple(row[:width]): [int(row[width]), *row[width + 1 :]]
        for row in connection.execute(_customer_sums())
    }
    differ = kept.keys() ^ facts.keys() | {key for key in kept if kept[key] != facts.get(key)}
    return [
        f"month {key[1]:%Y-%m} of customer {key[0]}: added up differs from its month rows"
        for key in sorted(differ, key=lambda k: (k[0], k[1], str(k[2])))[:SHOWN]
    ]


def _team_problems(connection: Connection) -> list[str]:
    """The teams' months that differ from their customers' month rows."""
    kept = {
        tuple(row[: len(TEAM_KEY)]): [int(row[len(TEAM_KEY)]), *row[len(TEAM_KEY) + 1 :]]
        for row in connection.execute(select(*(team_months.c[c] for c in TEAM_KEY + FIGURES)))
    }
    facts = {
        tuple(row[: len(TEAM_KEY)]): [int(row[len(TEAM_KEY)]), *row[len(TEAM_KEY) + 1 :]]
        for row in connection.execute(_team_sums())
    }
    differ = kept.keys() ^ facts.keys() | {key for key in kept if kept[key] != facts.get(key)}
    return [
        f"month {key[1]:%Y-%m} of team {key[0] if key[0] is not None else '(none)'}: "
        "differs from its customers' months"
        for key in sorted(differ, key=lambda k: (k[0] or 0, k[1], str(k[2:])))[:SHOWN]
    ]


def _count_problems(connection: Connection, zone: ZoneInfo) -> list[str]:
    """The teams' monthly counts that differ from the incidents and answers."""
    kept: dict[tuple, int] = {}
    for *key, n in connection.execute(select(*(counts.c[c] for c in (*COUNT_KEY, "counted")))):
        kept[tuple(key)] = kept.get(tuple(key), 0) + n
    facts = count_up(connection.execute(_incident_rows()), connection.execute(_answer_rows()), zone)
    differ = kept.keys() ^ facts.keys() | {key for key in kept if kept[key] != facts.get(key)}
    return [
        f"month {key[1]:%Y-%m} of team {key[0] if key[0] is not None else '(none)'}: "
        f"count of {'incidents caused by ' + key[2] if key[2] else key[3] + ' answers'} "
        "differs from the incidents and answers"
        for key in sorted(differ, key=lambda k: (k[0] or 0, k[1], str(k[2:])))[:SHOWN]
    ]
