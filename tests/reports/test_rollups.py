"""The figures the reports keep (each incident's first sending and first acceptance, one
cost entry per accepted revision) always equal what the facts say: after every step of
the workflows, through the services, and the reports built on them add up to the
figures computed from scratch. `flask reports verify` finds a difference and `flask
reports rebuild` repairs it."""

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from fieldsvc.database import utcnow
from fieldsvc.extensions import db
from fieldsvc.incidents.models import CauseCategory, Incident, IncidentStatus
from fieldsvc.incidents.services import IncidentReport, change_status, update_incident
from fieldsvc.portal import links
from fieldsvc.portal.models import AnswerChannel, ResponseKind
from fieldsvc.portal.services import Answer, TakenAnswer, Visitor, record_answer, respond
from fieldsvc.proposals.services import duplicate_proposal
from fieldsvc.reports import rollups
from fieldsvc.reports.models import CostEntry
from fieldsvc.reports.services import (
    CostGrouping,
    Period,
    cost_of_incidents,
    cost_total,
    percentile,
    response_times,
)
from tests.proposals.broken_transmitters import (
    BrokenTransmitters,
    build_broken_transmitters,
    send,
)


def _from_the_facts() -> tuple[dict, set]:
    """Each incident's first sending and first acceptance, and the accepted revisions,
    worked out in Python from the proposals as they are now."""
    db.session.expire_all()
    milestones, entries = {}, set()
    for incident in db.session.scalars(select(Incident)):
        revisions = [r for proposal in incident.proposals for r in proposal.revisions]
        accepted = [r for r in revisions if r.response and r.response.kind is ResponseKind.ACCEPTED]
        milestones[incident.id] = (
            min((r.sent_at for r in revisions if r.sent_at), default=None),
            min((r.response.created_at for r in accepted), default=None),
        )
        entries |= {
            (
                r.id,
                incident.id,
                incident.customer_id,
                incident.created_by_id,
                incident.cause_category,
                r.response.created_at,
                r.we_absorb,
                r.customer_pays,
                r.customer_tax,
            )
            for r in accepted
        }
    return milestones, entries


def _kept() -> tuple[dict, set]:
    db.session.expire_all()
    milestones = {
        incident.id: (incident.first_sent_at, incident.first_accepted_at)
        for incident in db.session.scalars(select(Incident))
    }
    entries = {
        tuple(getattr(entry, name) for name in rollups.ENTRY_COLUMNS)
        for entry in db.session.scalars(select(CostEntry))
    }
    return milestones, entries


def assert_kept_as_the_facts_say() -> None:
    db.session.commit()
    assert _kept() == _from_the_facts()
    check = rollups.verify(db.session.connection())
    assert check.intact, check.problems


def _visitor() -> Visitor:
    return Visitor("203.0.113.5", "test browser")


def _answer(token: str, seed: BrokenTransmitters, answer: Answer) -> None:
    revision = seed.revision
    assert revision.proposal.incident is seed.incident  # loaded before the answer is built
    respond(
        links.open_link(token),
        revision,
        answer,
        pdf_sha256=revision.pdf_sha256,
        visitor=_visitor(),
    )
    db.session.commit()


def _report_of(incident: Incident) -> IncidentReport:
    return IncidentReport(
        customer_id=incident.customer_id,
        site_id=incident.site_id,
        equipment_ids=[item.id for item in incident.equipment],
        reported_via=incident.reported_via,
        severity=incident.severity,
        actual=incident.actual,
        occurred_at=incident.occurred_at,
        expected=incident.expected,
        reporter_contact_id=incident.reporter_contact_id,
        cause_category=incident.cause_category,
        cause_description=incident.cause_description,
        technician_statement=incident.technician_statement,
    )


@pytest.fixture
def two_teams(app) -> tuple[BrokenTransmitters, BrokenTransmitters]:
    return build_broken_transmitters(), build_broken_transmitters(other="B ")


def test_kept_figures_follow_sending_declining_accepting_resolving_reopening_and_editing(
    two_teams,
):
    seed, other = two_teams
    incident = seed.incident
    assert_kept_as_the_facts_say()

    token = send(seed)
    first = seed.revision
    assert_kept_as_the_facts_say()
    assert incident.first_sent_at == first.sent_at
    assert incident.first_accepted_at is None

    _answer(token, seed, Answer(ResponseKind.DECLINED, full_name="Dana Whitfield", reason="price"))
    assert_kept_as_the_facts_say()
    assert db.session.scalar(select(CostEntry)) is None  # a decline costs nothing

    # A new proposal, sent and accepted: the first sending stays the declined one's.
    seed.proposal = duplicate_proposal(first.proposal, actor=seed.technician)
    db.session.commit()
    token = send(seed)
    second = seed.revision
    assert second.proposal is not first.proposal
    _answer(token, seed, Answer(ResponseKind.ACCEPTED, full_name="Dana Whitfield"))
    assert_kept_as_the_facts_say()
    assert incident.first_sent_at == first.sent_at < second.sent_at
    assert incident.first_accepted_at == second.response.created_at
    (entry,) = db.session.scalars(select(CostEntry))
    assert (entry.revision_id, entry.we_absorb) == (second.id, second.we_absorb)

    for status in (IncidentStatus.RESOLVED, IncidentStatus.OPEN, IncidentStatus.RESOLVED):
        change_status(incident, status, actor=seed.supervisor, note="Both replaced")
        assert_kept_as_the_facts_say()

    # The cause corrected: the cost is counted under the new cause at once.
    report = _report_of(incident)
    report.cause_category = CauseCategory.THIRD_PARTY
    update_incident(incident, report, actor=seed.supervisor, reason="The rig was faulty")
    assert_kept_as_the_facts_say()
    assert db.session.scalar(select(CostEntry.cause_category)) is CauseCategory.THIRD_PARTY

    # The other team: accepted by phone, as a supervisor records it, then cancelled.
    send(other)
    answered_at = utcnow() - timedelta(seconds=1)
    record_answer(
        other.revision,
        TakenAnswer(
            Answer(ResponseKind.ACCEPTED, full_name="Dana Whitfield"),
            AnswerChannel.PHONE,
            answered_at=answered_at,
        ),
        actor=other.supervisor,
    )
    assert_kept_as_the_facts_say()
    change_status(other.incident, IncidentStatus.CANCELLED, actor=other.supervisor)
    assert_kept_as_the_facts_say()
    assert other.incident.first_accepted_at == answered_at


def _period() -> Period:
    today = utcnow().date()
    return Period(today - timedelta(days=7), today + timedelta(days=1))


def test_the_reports_on_kept_figures_equal_the_figures_computed_from_the_facts(two_teams):
    seed, other = two_teams
    for team in (seed, other):
        token = send(team)
        _answer(token, team, Answer(ResponseKind.ACCEPTED, full_name="Dana Whitfield"))
    change_status(seed.incident, IncidentStatus.RESOLVED, actor=seed.supervisor, note="Done")
    db.session.commit()
    _milestones, entries = _from_the_facts()
    period = _period()

    by_cause = defaultdict(lambda: [set(), Decimal(0), Decimal(0), Decimal(0)])
    for _rev, incident_id, _cust, _tech, cause, _at, absorb, pays, tax in entries:
        figures = by_cause[cause.label]
        figures[0].add(incident_id)
        figures[1:] = [figures[1] + absorb, figures[2] + pays, figures[3] + tax]
    assert sorted(
        (row.label, row.incidents, row.we_absorbed, row.customer_paid, row.customer_tax)
        for row in cost_of_incidents(seed.admin, period, CostGrouping.CAUSE)
    ) == sorted((label, len(ids), *money) for label, (ids, *money) in by_cause.items())
    total = cost_total(seed.admin, period)
    assert total.incidents == 2
    assert total.we_absorbed == sum(entry[6] for entry in entries)
    # Team scoping: a supervisor counts their own team's incidents only.
    assert cost_total(seed.supervisor, period).incidents == 1

    incidents = db.session.scalars(select(Incident)).all()

    def hours(begin, end) -> list[float]:
        return [
            (end(i) - begin(i)).total_seconds() / 3600
            for i in incidents
            if begin(i) is not None and end(i) is not None
        ]

    def resolved(incident):
        return incident.resolved_at if incident.status is IncidentStatus.RESOLVED else None

    expected = [
        hours(lambda i: i.created_at, lambda i: i.first_sent_at),
        hours(lambda i: i.first_sent_at, lambda i: i.first_accepted_at),
        hours(lambda i: i.first_accepted_at, resolved),
        hours(lambda i: i.created_at, resolved),
    ]
    for step, durations in zip(response_times(seed.admin, period), expected, strict=True):
        assert step.incidents == len(durations)
        # Exact but for the database's own time arithmetic (microseconds).
        assert step.median_hours == pytest.approx(percentile(durations, 0.5), abs=1e-6)
        assert step.p90_hours == pytest.approx(percentile(durations, 0.9), abs=1e-6)


def test_flask_reports_verify_names_a_kept_figure_that_differs_and_rebuild_repairs_it(
    two_teams, runner
):
    seed, _other = two_teams
    token = send(seed)
    _answer(token, seed, Answer(ResponseKind.ACCEPTED, full_name="Dana Whitfield"))
    assert runner.invoke(args=["reports", "verify"]).exit_code == 0

    db.session.execute(update(CostEntry).values(we_absorb=Decimal("1.00")))
    db.session.execute(
        update(Incident)
        .where(Incident.id == seed.incident.id)
        .values(first_sent_at=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    broken = runner.invoke(args=["reports", "verify"])
    assert broken.exit_code == 1
    assert f"{seed.incident.reference}: first sent or first accepted time differs" in broken.output
    assert f"cost entry of revision {seed.revision.id}" in broken.output

    rebuilt = runner.invoke(args=["reports", "rebuild"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "1 accepted revisions" in rebuilt.output
    assert runner.invoke(args=["reports", "verify"]).exit_code == 0
    assert_kept_as_the_facts_say()
