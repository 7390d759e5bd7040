"""The dashboard's incidents by cause (a year) and answers by kind (90 days) read the
months of their window from its first whole one on from the counts kept per team and
month, the partial month at its start from the incidents and answers: the figures are
those counted one by one from the rows, for a team's supervisor, an admin and someone of
no team, with incidents and answers on both sides of month edges and of the window's
start. The counts follow every change that moves an incident or an answer, `flask
reports verify` names a count that differs and `rebuild` mends it, and the migration
counts the history there was."""

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import flask_migrate
import pytest
from sqlalchemy import select, update

from fieldsvc.auth.models import Role, User
from fieldsvc.customers.models import Customer, Site
from fieldsvc.dashboard.services import ANSWER_KINDS, RATE_DAYS, dashboard
from fieldsvc.extensions import db
from fieldsvc.incidents.models import CauseCategory, Incident
from fieldsvc.portal.models import CustomerResponse, ResponseKind
from fieldsvc.proposals.models import Proposal, ProposalRevision
from fieldsvc.reports import months
from fieldsvc.reports.models import TeamMonthCount
from tests import seeding
from tests.dashboard.test_dashboard import _accept, _incident
from tests.proposals.broken_transmitters import build_broken_transmitters, send

ZONE = ZoneInfo("America/New_York")
INCIDENTS = 400
YEAR = timedelta(days=365)
# Moments the dashboard is looked at: minutes after and before a month begins (the night
# the clocks change among them), and in the middle of one.
NOWS = (
    months.month_start(date(2026, 3, 1), ZONE) + timedelta(minutes=7),
    months.month_start(date(2026, 11, 1), ZONE) - timedelta(minutes=7),
    datetime(2026, 6, 17, 13, 30, tzinfo=UTC),
)


@pytest.fixture
def zone(app) -> ZoneInfo:
    app.config.update(TIMEZONE=ZONE.key)
    return ZONE


def _moments(rng: random.Random) -> list[datetime]:
    """Instants close to each window's start for each of NOWS (a year and 90 days back),
    close to every month's start of two years in the zone, and anywhere in between."""
    edges = [now - back for now in NOWS for back in (YEAR, timedelta(days=RATE_DAYS))]
    month = date(2025, 1, 1)
    while month <= date(2026, 12, 1):
        edges.append(months.month_start(month, ZONE))
        month = months.following(month)
    near = [edge + timedelta(minutes=rng.randint(-90, 90)) for edge in edges for _ in range(4)]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    anywhere = [start + timedelta(minutes=rng.randint(0, 60 * 24 * 700)) for _ in range(150)]
    return [*edges, *near, *anywhere]


def _history(rng: random.Random, zone: ZoneInfo) -> dict[str, User]:
    """Incidents of two teams' customers and one no team serves, each with an answer of
    one of the three kinds, reported and answered at instants from `_moments`."""
    plan = seeding.company(6, name="Counts")
    nobody_s = Customer(name="Counts customer of no team")
    site = Site(customer=nobody_s, name="Plant", address="1 Road")
    people = {
        "admin": User(
            name="Counts admin", email="counts-admin@example.com", role=Role.ADMIN,
            password_hash="x",
        ),
        "no team": User(
            name="Counts loner", email="counts-loner@example.com", role=Role.SUPERVISOR,
            password_hash="x",
        ),
    }  # fmt: skip
    db.session.add_all([nobody_s, site, *people.values()])
    db.session.flush()
    moments = _moments(rng)
    first = plan.next_incident_id()
    ids = range(first, first + INCIDENTS)
    seeding.insert_incidents(
        plan,
        (
            {
                "id": n,
                "created_at": rng.choice(moments),
                "cause_category": rng.choice(list(CauseCategory)).value,
            }
            | ({"customer_id": nobody_s.id, "site_id": site.id} if n % 7 == 0 else {})
            for n in ids
        ),
    )
    answered = [rng.choice(moments) for _ in ids]
    seeding.insert_accepted_offers(
        plan,
        [
            seeding.Offer(n, at - timedelta(hours=2), at)
            for n, at in zip(ids, answered, strict=True)
        ],
    )
    for n, kind in enumerate(ResponseKind):
        db.session.execute(
            update(CustomerResponse)
            .where(CustomerResponse.revision_id % len(ResponseKind) == n)
            .values(kind=kind)
        )
    seeding.keep_figures(zone)
    return people | {"supervisor": plan.supervisor}


def _one_by_one(user: User, now: datetime) -> tuple[dict, tuple]:
    """Incidents by cause and answers by kind as the rows give them, counted here."""
    visible = select(Customer.id)
    if user.role is not Role.ADMIN:  # someone of no team sees no customer's
        visible = visible.where(Customer.team_id == user.team_id, user.team_id is not None)
    causes = db.session.scalars(
        select(Incident.cause_category).where(
            Incident.customer_id.in_(visible), Incident.created_at >= now - YEAR
        )
    ).all()
    kinds = db.session.scalars(
        select(CustomerResponse.kind)
        .join(ProposalRevision, ProposalRevision.id == CustomerResponse.revision_id)
        .join(Proposal, Proposal.id == ProposalRevision.proposal_id)
        .join(Incident, Incident.id == Proposal.incident_id)
        .where(
            Incident.customer_id.in_(visible),
            CustomerResponse.created_at >= now - timedelta(days=RATE_DAYS),
        )
    ).all()
    return (
        {cause.value: causes.count(cause) for cause in CauseCategory},
        tuple(kinds.count(kind) for kind in ANSWER_KINDS),
    )


def _shown(user: User, now: datetime) -> tuple[dict, tuple]:
    board = dashboard(user, now=now)
    answers = board.answers
    return (
        {count.key: count.count for count in board.by_cause},
        (answers.accepted, answers.declined, answers.changes),
    )


def test_the_figures_are_those_of_the_incidents_and_answers_counted_one_by_one(zone):
    people = _history(random.Random(21), zone)
    assert months.problems(db.session.connection(), zone) == []
    for now in NOWS:
        for kind, user in people.items():
            expected = _one_by_one(user, now)
            assert _shown(user, now) == expected, (kind, now)
            if kind != "no team":
                assert sum(expected[0].values()) > 0 and all(expected[1]), (kind, now)


def test_the_window_s_whole_months_are_read_from_the_kept_counts(zone):
    people = _history(random.Random(22), zone)
    supervisor, now = people["supervisor"], NOWS[2]
    before = _shown(supervisor, now)
    # A count no incident gives, in a whole month of both windows.
    april = (TeamMonthCount.team_id == supervisor.team_id, TeamMonthCount.month == date(2026, 4, 1))
    rows = db.session.scalars(select(TeamMonthCount).where(*april)).all()
    causes = sum(1 for row in rows if row.cause_category is not None)
    kinds = sum(1 for row in rows if row.answer_kind is not None)
    assert causes and kinds
    db.session.execute(
        update(TeamMonthCount).where(*april).values(counted=TeamMonthCount.counted + 1000)
    )
    after = _shown(supervisor, now)
    assert sum(after[0].values()) == sum(before[0].values()) + 1000 * causes
    assert sum(after[1]) == sum(before[1]) + 1000 * kinds


def test_after_the_zone_changed_the_figures_are_read_from_the_rows_until_rebuilt(zone, app):
    people = _history(random.Random(23), zone)
    app.config.update(TIMEZONE="Asia/Kolkata")
    # The kept counts, made wrong, are not read while they are in another zone.
    db.session.execute(update(TeamMonthCount).values(counted=TeamMonthCount.counted + 1000))
    for kind, user in people.items():
        for now in NOWS:
            assert _shown(user, now) == _one_by_one(user, now), (kind, now)


def _counts(team_id: int | None) -> dict[tuple, int]:
    rows = db.session.execute(
        select(
            TeamMonthCount.month,
            TeamMonthCount.cause_category,
            TeamMonthCount.answer_kind,
            TeamMonthCount.counted,
        ).where(
            TeamMonthCount.team_id == team_id
            if team_id is not None
            else TeamMonthCount.team_id.is_(None)
        )
    )
    return {(month, cause or kind): n for month, cause, kind, n in rows}


def test_the_counts_follow_incidents_and_answers_as_the_app_changes_them(zone):
    seed = build_broken_transmitters()
    other = build_broken_transmitters(other="Second ")
    db.session.flush()
    months.rebuild(db.session.connection(), zone)
    team, other_team = seed.customer.team_id, other.customer.team_id
    assert team != other_team and team is not None

    def assert_as_the_rows_say():
        db.session.flush()
        assert months.problems(db.session.connection(), zone) == []

    this_month = months.month_of(datetime.now(UTC), zone)
    before = _counts(team).get((this_month, CauseCategory.CUSTOMER), 0)
    incident = _incident(seed, CauseCategory.CUSTOMER)  # reported now
    assert_as_the_rows_say()
    assert _counts(team)[this_month, CauseCategory.CUSTOMER] == before + 1
    incident.cause_category = CauseCategory.THIRD_PARTY
    assert_as_the_rows_say()
    assert _counts(team)[this_month, CauseCategory.THIRD_PARTY] >= 1
    incident.created_at -= timedelta(days=40)
    assert_as_the_rows_say()
    incident.customer = other.customer
    assert_as_the_rows_say()
    _accept(seed, send(seed))  # the customer's answer, recorded on the status page
    assert_as_the_rows_say()
    assert _counts(team)[this_month, ResponseKind.ACCEPTED] >= 1
    moved = _counts(team)
    seed.customer.team = None
    assert_as_the_rows_say()
    assert _counts(None) == {key: n for key, n in moved.items() if key in _counts(None)}
    assert _counts(None)[this_month, ResponseKind.ACCEPTED] >= 1
    seed.customer.team_id = other_team
    assert_as_the_rows_say()
    db.session.delete(db.session.scalars(select(CustomerResponse)).first())
    assert_as_the_rows_say()


def test_verify_names_a_count_that_differs_and_rebuild_mends_it(zone, runner):
    _history(random.Random(24), zone)
    db.session.commit()
    assert runner.invoke(args=["reports", "verify"]).exit_code == 0
    tampered = db.session.scalars(
        select(TeamMonthCount)
        .where(TeamMonthCount.cause_category.is_not(None))
        .order_by(TeamMonthCount.team_id, TeamMonthCount.month)
    ).first()
    tampered.counted += 1
    db.session.commit()
    broken = runner.invoke(args=["reports", "verify"])
    assert broken.exit_code == 1
    team = tampered.team_id if tampered.team_id is not None else "(none)"
    assert (
        f"month {tampered.month:%Y-%m} of team {team}: count of incidents caused by "
        f"{tampered.cause_category.value} differs from the incidents and answers"
    ) in broken.output
    rebuilt = runner.invoke(args=["reports", "rebuild"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert runner.invoke(args=["reports", "verify"]).exit_code == 0


def test_the_migration_counts_the_history_there_was(committed_app):
    with committed_app.app_context():
        committed_app.config.update(TIMEZONE=ZONE.key)
        _history(random.Random(25), ZONE)
        db.session.commit()
        kept = _all_counts()
        assert kept
        db.session.remove()
        db.engine.dispose()

        flask_migrate.downgrade(revision="0024_search_reindex")
        flask_migrate.upgrade()

        assert _all_counts() == kept
        assert months.problems(db.session.connection(), ZONE) == []
        db.session.remove()
        db.engine.dispose()


def _all_counts() -> list[tuple]:
    rows = db.session.execute(
        select(
            TeamMonthCount.team_id,
            TeamMonthCount.month,
            TeamMonthCount.cause_category,
            TeamMonthCount.answer_kind,
            TeamMonthCount.counted,
        )
    )
    return sorted((tuple(row) for row in rows), key=str)
