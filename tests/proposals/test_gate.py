"""The send gate: every reason a revision cannot go to a supervisor yet, in plain words,
and submitting only through it. Service-level; the editor's checklist is tested over
HTTP elsewhere."""

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from fieldsvc.audit.models import AuditEvent
from fieldsvc.audit.services import history_for
from fieldsvc.customers.models import Contact
from fieldsvc.errors import DomainError
from fieldsvc.extensions import db
from fieldsvc.parts.models import PartOrderStatus
from fieldsvc.parts.services import OrderDetails, change_part_order_status, update_part_order
from fieldsvc.proposals.models import RevisionStatus
from fieldsvc.proposals.services import (
    GateClosed,
    acknowledge_warning,
    save_revision,
    send_gate,
    submit_revision,
    tone_warnings,
    unacknowledged,
)
from tests.proposals.broken_transmitters import (
    ALREADY_DONE,
    TODAY,
    TOMORROW,
    BrokenTransmitters,
    build_broken_transmitters,
    visit_at,
)

REPLACEMENTS = "PTX-400 pressure transmitter, replacing PT-107 and PT-117"
SPARE = "PTX-400 pressure transmitter, spare, free of charge"


@pytest.fixture
def seed(app) -> BrokenTransmitters:
    return build_broken_transmitters()


def _save(seed: BrokenTransmitters, **changes) -> None:
    """The technician saves the broken transmitters' offer with `changes`, as the editor would."""
    revision = seed.revision
    save_revision(
        revision, seed.draft(**changes), actor=seed.technician, expected_version=revision.version
    )
    db.session.commit()


def _gate(seed: BrokenTransmitters) -> list[tuple[str, str]]:
    return [(problem.message, problem.fix) for problem in send_gate(seed.revision)]


def _reschedule(seed: BrokenTransmitters, **changes) -> None:
    details = {
        "supplier_id": seed.supplier.id,
        "po_number": "PO-7781",
        "ordered_on": TODAY,
        "expected_on": TOMORROW,
        "return_window_days": 30,
        "restocking_fee_pct": Decimal("15"),
    } | changes
    update_part_order(seed.order, OrderDetails(**details), actor=seed.technician)
    db.session.commit()


def test_the_seed_offer_passes_the_gate(seed):
    assert send_gate(seed.revision) == []


def test_an_empty_draft_lists_everything_still_to_do(seed):
    _save(
        seed,
        what_happened="",
        already_done="",
        plan="",
        contact_id=None,
        return_visit_at=None,
        return_technician_id=None,
        lines=[],
    )

    assert _gate(seed) == [
        ("Schedule the return visit (date and time).", "visit"),
        ("Choose the technician for the return visit.", "visit"),
        ("Choose the customer contact who receives it.", "contact"),
        ("Add the lines of the offer.", "lines"),
        ("Write what happened, what is done and the plan for the customer.", "text"),
    ]


def test_a_part_line_must_be_linked_to_a_part_order(seed):
    lines = seed.lines()
    lines[0] = replace(lines[0], part_order_line_id=None)
    _save(seed, lines=lines)

    assert _gate(seed) == [(f"Line 1 ({REPLACEMENTS}): link it to a part order.", "lines")]


def test_goodwill_and_labour_lines_need_no_part_order(seed):
    lines = seed.lines()
    lines[1] = replace(lines[1], part_order_line_id=None)
    _save(seed, lines=lines)

    assert _gate(seed) == []


def test_parts_still_to_order_block_the_gate(seed):
    waiting = seed.order_more(status=PartOrderStatus.TO_ORDER, po_number=None)
    lines = seed.lines()
    lines[0] = replace(lines[0], part_order_line_id=waiting.lines[0].id)
    _save(seed, lines=lines)

    assert _gate(seed) == [
        (
            f"Line 1 ({REPLACEMENTS}): part order Part order {waiting.id} (not yet ordered) is "
            "to order; place the order first.",
            "parts",
        )
    ]


def test_a_cancelled_part_order_blocks_every_line_it_supplies_the_free_spare_too(seed):
    change_part_order_status(seed.order, PartOrderStatus.CANCELLED, actor=seed.technician)
    db.session.commit()

    assert _gate(seed) == [
        (
            f"Line 1 ({REPLACEMENTS}): part order PO-7781 is cancelled; place the order first.",
            "parts",
        ),
        (f"Line 2 ({SPARE}): part order PO-7781 is cancelled; place the order first.", "parts"),
    ]


@pytest.mark.parametrize(
    "status", [PartOrderStatus.ORDERED, PartOrderStatus.SHIPPED, PartOrderStatus.RECEIVED]
)
def test_parts_ordered_shipped_or_received_pass_the_gate(seed, status):
    linked = seed.order_more(status=status)
    lines = seed.lines()
    lines[0] = replace(lines[0], part_order_line_id=linked.lines[0].id)
    _save(seed, lines=lines)

    assert send_gate(seed.revision) == []


def test_parts_expected_after_the_return_visit_block_the_gate_once_per_order(seed):
    _reschedule(seed, expected_on=TODAY + timedelta(days=2))

    assert _gate(seed) == [
        (
            f"Part order PO-7781 arrives {_in_words(TODAY + timedelta(days=2))}, after the "
            "return visit; move the visit or find a faster supplier.",
            "parts",
        )
    ]


def test_parts_expected_on_the_day_of_the_visit_are_in_time(seed):
    _save(seed, return_visit_at=visit_at(TOMORROW, hour=17))
    assert seed.order.expected_on == TOMORROW
    assert send_gate(seed.revision) == []


def _in_words(day: date) -> str:
    return f"{day:%A} {day.day} {day:%B %Y}"


def test_the_visit_day_is_the_day_in_the_company_time_zone_for_a_site_without_one(app, seed):
    # 03:00 UTC on the 24th is still the evening of the 23rd in New York.
    app.config["TIMEZONE"] = "UTC"
    _save(seed, return_visit_at=datetime.combine(TOMORROW, time(3), tzinfo=UTC))
    assert send_gate(seed.revision) == []

    app.config["TIMEZONE"] = "America/New_York"

    assert _gate(seed) == [
        (
            f"Part order PO-7781 arrives {_in_words(TOMORROW)}, after the return visit; move "
            "the visit or find a faster supplier.",
            "parts",
        )
    ]


def test_the_visit_day_is_the_day_at_the_customers_site(app, seed):
    app.config["TIMEZONE"] = "UTC"
    _save(seed, return_visit_at=datetime.combine(TOMORROW, time(3), tzinfo=UTC))

    seed.incident.site.time_zone = "America/New_York"

    assert _gate(seed) == [
        (
            f"Part order PO-7781 arrives {_in_words(TOMORROW)}, after the return visit; move "
            "the visit or find a faster supplier.",
            "parts",
        )
    ]


def test_an_order_without_an_expected_delivery_date_blocks_the_gate(seed):
    _reschedule(seed, expected_on=None)

    assert _gate(seed) == [("Part order PO-7781: enter the expected delivery date.", "parts")]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"return_visit_at": None}, ("Schedule the return visit (date and time).", "visit")),
        (
            {"return_technician_id": None},
            ("Choose the technician for the return visit.", "visit"),
        ),
        ({"contact_id": None}, ("Choose the customer contact who receives it.", "contact")),
        ({"lines": []}, ("Add the lines of the offer.", "lines")),
        (
            {"already_done": "  "},
            ("Write what happened, what is done and the plan for the customer.", "text"),
        ),
    ],
    ids=["no visit", "no technician", "no contact", "no lines", "missing text"],
)
def test_each_missing_part_of_the_offer_is_named(seed, change, problem):
    _save(seed, **change)

    assert _gate(seed) == [problem]


def test_a_contact_without_an_e_mail_address_is_named(seed):
    with_phone_only = Contact(customer=seed.customer, name="Sam Okafor", phone="+1 973 555 0100")
    db.session.add(with_phone_only)
    db.session.flush()
    _save(seed, contact_id=with_phone_only.id)

    assert _gate(seed) == [("Sam Okafor has no e-mail address; add one.", "contact")]


def test_an_unacknowledged_tone_warning_blocks_the_gate(seed):
    _save(seed, already_done=ALREADY_DONE + " As I said, our policy is to replace what we damage.")

    assert _gate(seed) == [
        ("Tone: Reminding the customer that they were already told sounds impatient.", "text"),
        ("Tone: Pointing at a policy puts our process before the customer's problem.", "text"),
    ]


def test_a_letter_without_apology_or_next_step_is_named_once(seed):
    _save(
        seed,
        what_happened="Two transmitters were damaged.",
        already_done="Three were ordered.",
        plan="The spare is free.",
    )

    assert [message for message, _ in _gate(seed)] == [
        "Tone: The text does not apologise or acknowledge the customer's situation.",
        "Tone: The text does not say what happens next.",
    ]
    assert [w.rule_id for w in tone_warnings(seed.revision)["plan"]] == [
        "missing-apology",
        "missing-next-step",
    ]


def test_acknowledging_a_tone_warning_clears_it_and_is_in_the_audit_trail(seed):
    _save(seed, already_done="As I said, " + ALREADY_DONE)
    revision = seed.revision
    (warning,) = unacknowledged(revision)
    assert warning.key == "dismissive-as-i-said:as i said"

    acknowledge_warning(revision, warning.key, actor=seed.technician)
    db.session.commit()

    assert send_gate(revision) == []
    assert revision.acknowledged_warnings == ["dismissive-as-i-said:as i said"]
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "acknowledge_tone_warning")
    ).one()
    assert (event.object_type, event.object_id) == ("ProposalRevision", revision.id)
    assert event.actor_id == seed.technician.id
    assert event.reason == "dismissive-as-i-said:as i said"
    assert event.changes == {"warning": [None, warning.message]}
    entries = history_for(revision)
    readable = [tuple(change) for entry in entries for change in entry.changes]
    assert ("Tone warnings acknowledged", "—", "“as i said”") in readable
    assert entries[-1].headline == "Acknowledged a tone warning"


def test_an_acknowledgement_covers_only_the_words_acknowledged(seed):
    _save(seed, already_done="As I said, " + ALREADY_DONE)
    acknowledge_warning(seed.revision, "dismissive-as-i-said:as i said", actor=seed.technician)
    db.session.commit()

    _save(seed, already_done="Obviously, " + ALREADY_DONE)

    assert [message for message, _ in _gate(seed)] == [
        'Tone: "Obviously" implies the customer should have known; it talks down to them.'
    ]


def test_a_warning_that_no_longer_applies_cannot_be_acknowledged(seed):
    with pytest.raises(DomainError, match="That tone warning no longer applies to the text"):
        acknowledge_warning(seed.revision, "dismissive-as-i-said:as i said", actor=seed.technician)

    assert seed.revision.acknowledged_warnings == []


def test_submitting_is_refused_with_the_gates_problems_while_it_is_closed(seed):
    _save(seed, return_visit_at=None, contact_id=None)
    revision = seed.revision

    with pytest.raises(GateClosed) as closed:
        submit_revision(revision, actor=seed.technician, expected_version=revision.version)

    assert [p.message for p in closed.value.problems] == [
        "Schedule the return visit (date and time).",
        "Choose the customer contact who receives it.",
    ]
    assert str(closed.value) == (
        "Not submitted: Schedule the return visit (date and time). "
        "Choose the customer contact who receives it."
    )
    db.session.rollback()
    assert (revision.status, revision.submitted_at) == (RevisionStatus.DRAFT, None)


def test_submitting_through_an_open_gate_asks_for_approval(seed):
    revision = seed.revision
    version = revision.version

    submit_revision(revision, actor=seed.technician, expected_version=version)
    db.session.commit()

    db.session.expire_all()
    assert revision.status is RevisionStatus.SUBMITTED
    assert revision.submitted_at is not None
    assert revision.version == version + 1
    event = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.object_type == "ProposalRevision", AuditEvent.object_id == revision.id)
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).one()
    assert event.actor_id == seed.technician.id
    assert event.changes["status"] == ["draft", "submitted"]


def test_a_return_visit_in_the_past_blocks_the_gate(seed):
    _save(seed, return_visit_at=visit_at(TODAY - timedelta(days=1)))
    assert ("The return visit is in the past; schedule a new one.", "visit") in _gate(seed)
