"""Part orders for an incident, bought before the customer is told: what is ordered
and what it costs, which
orders are refused, how an order moves from "to order" to installed, and its return
terms. Service-level: the part order pages are tested over HTTP elsewhere."""

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from fieldsvc.audit.models import AuditEvent
from fieldsvc.errors import DomainError, FieldError, InvalidTransition
from fieldsvc.extensions import db
from fieldsvc.parts.models import (
    PART_ORDER_TRANSITIONS,
    PartOrder,
    PartOrderLine,
    PartOrderStatus,
)
from fieldsvc.parts.services import (
    OrderDetails,
    OrderLineInput,
    change_part_order_status,
    order_parts,
    update_part_order,
)

P = PartOrderStatus
TODAY = date(2026, 11, 23)
TOMORROW = date(2026, 11, 24)


@pytest.fixture
def seed(make_incident, make_supplier, make_part):
    """An incident, Precision Instruments Supply and the PTX-400 at 350.00."""
    incident = make_incident()
    return (
        incident,
        make_supplier(name="Precision Instruments Supply"),
        make_part(number="PTX-400", description="PTX-400 pressure transmitter"),
    )


def _details(supplier, **overrides) -> OrderDetails:
    values = {
        "supplier_id": supplier.id,
        "po_number": "PO-7781",
        "ordered_on": TODAY,
        "expected_on": TOMORROW,
        "return_window_days": 30,
        "restocking_fee_pct": Decimal("15"),
    } | overrides
    return OrderDetails(**values)


def _transmitters(part, **overrides) -> OrderLineInput:
    values = {
        "part_id": part.id,
        "description": "",
        "quantity": Decimal("3"),
        "unit_cost": Decimal("350.00"),
        "discount_pct": Decimal("10"),
    } | overrides
    return OrderLineInput(**values)


def _order(seed, **details) -> PartOrder:
    incident, supplier, part = seed
    order = order_parts(
        incident, _details(supplier, **details), [_transmitters(part)], actor=incident.created_by
    )
    db.session.commit()
    return order


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _events(order: PartOrder) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.object_type == "PartOrder", AuditEvent.object_id == order.id)
            .order_by(AuditEvent.seq)
        )
    )


# --- ordering ---------------------------------------------------------------------------------


def test_three_catalogue_transmitters_less_10_percent_and_a_free_text_line_are_ordered(seed):
    incident, supplier, part = seed
    technician = incident.created_by

    order = order_parts(
        incident,
        _details(supplier),
        [
            _transmitters(part),
            OrderLineInput("Mounting bracket kit", Decimal("2"), Decimal("12.50")),
        ],
        actor=technician,
    )
    db.session.commit()

    db.session.expire_all()
    saved = db.session.scalars(select(PartOrder)).one()
    assert saved.status is P.TO_ORDER
    assert (saved.incident, saved.supplier, saved.created_by) == (incident, supplier, technician)
    assert (saved.po_number, saved.ordered_on, saved.expected_on) == ("PO-7781", TODAY, TOMORROW)
    transmitters, brackets = saved.lines
    # A catalogue line without a description takes the part's.
    assert (transmitters.part, transmitters.description) == (part, "PTX-400 pressure transmitter")
    assert transmitters.quantity == Decimal("3")
    assert transmitters.unit_cost == Decimal("350.00")
    assert transmitters.discount_pct == Decimal("10")
    assert transmitters.net_cost == Decimal("945.00")
    assert (brackets.part, brackets.description) == (None, "Mounting bracket kit")
    assert brackets.net_cost == Decimal("25.00")
    assert saved.net_cost == Decimal("970.00")
    assert order.id == saved.id
    assert str(saved) == "PO-7781"


def test_a_catalogue_part_fills_the_description_and_unit_cost_left_empty(seed, make_part):
    incident, supplier, part = seed
    gauge = make_part(
        number="PG-10", description="PG-10 pressure gauge", list_price=Decimal("80.00")
    )

    order_parts(
        incident,
        _details(supplier),
        [
            _transmitters(part, unit_cost=None),
            _transmitters(gauge, description="PG-10, calibrated", unit_cost=Decimal("72.00")),
            OrderLineInput("Mounting bracket kit", Decimal("2"), None),
        ],
        actor=incident.created_by,
    )
    db.session.commit()

    transmitters, gauges, brackets = db.session.scalars(select(PartOrder)).one().lines
    assert (transmitters.description, transmitters.unit_cost) == (
        "PTX-400 pressure transmitter",
        Decimal("350.00"),
    )
    # What the technician typed stays as typed: the supplier's price is not the list price.
    assert (gauges.description, gauges.unit_cost) == ("PG-10, calibrated", Decimal("72.00"))
    assert (brackets.description, brackets.unit_cost) == ("Mounting bracket kit", Decimal("0"))


def test_an_order_without_a_po_number_is_named_as_not_yet_ordered(seed):
    order = _order(seed, po_number="  ")
    assert order.po_number is None
    assert str(order) == f"Part order {order.id} (not yet ordered)"


@pytest.mark.parametrize(
    ("details", "lines", "field", "message"),
    [
        ({}, [], "lines", "Add at least one line: what is being ordered."),
        ({}, [{"quantity": Decimal("0")}], "lines-0", "Line 1: Quantity must be more than 0."),
        ({}, [{"quantity": Decimal("-1")}], "lines-0", "Line 1: Quantity must be more than 0."),
        (
            {},
            [{"quantity": Decimal("1.005")}],
            "lines-0",
            "Line 1: Use at most 2 decimals for the quantity.",
        ),
        (
            {},
            [{"unit_cost": Decimal("-0.01")}],
            "lines-0",
            "Line 1: Unit cost cannot be negative.",
        ),
        (
            {},
            [{"unit_cost": Decimal("350.005")}],
            "lines-0",
            "Line 1: Use at most 2 decimals for money.",
        ),
        (
            {},
            [{"discount_pct": Decimal("101")}],
            "lines-0",
            "Line 1: Discount must be between 0 and 100 %.",
        ),
        (
            {},
            [{"part_id": None, "description": "  "}],
            "lines-0",
            "Line 1: say what is ordered.",
        ),
        (
            {},
            [{"part_id": 999_999}],
            "lines-0",
            "Line 1: choose a part from the catalogue.",
        ),
        (
            # The first line is fine; the second still stops the whole order.
            {},
            [{}, {"quantity": Decimal("0")}],
            "lines-1",
            "Line 2: Quantity must be more than 0.",
        ),
        (
            {"return_window_days": -1},
            [{}],
            "return_window_days",
            "The return window cannot be negative.",
        ),
        (
            {"restocking_fee_pct": Decimal("100.01")},
            [{}],
            "restocking_fee_pct",
            "Restocking fee must be between 0 and 100 %.",
        ),
        (
            {"ordered_on": TOMORROW, "expected_on": TODAY},
            [{}],
            "expected_on",
            "Delivery cannot be expected before the order date.",
        ),
        ({"supplier_id": 999_999}, [{}], "supplier_id", "Choose an active supplier."),
    ],
    ids=[
        "no lines",
        "quantity 0",
        "negative quantity",
        "quantity with 3 decimals",
        "negative cost",
        "cost with 3 decimals",
        "discount 101",
        "no description",
        "unknown part",
        "second line bad",
        "negative return window",
        "restocking fee above 100",
        "expected before ordered",
        "unknown supplier",
    ],
)
def test_a_bad_order_is_refused_with_the_field_and_nothing_is_written(
    seed, details, lines, field, message
):
    incident, supplier, part = seed

    with pytest.raises(FieldError) as refused:
        order_parts(
            incident,
            _details(supplier, **details),
            [_transmitters(part, **line) for line in lines],
            actor=incident.created_by,
        )

    assert (refused.value.field, refused.value.message) == (field, message)
    assert _count(PartOrder) == _count(PartOrderLine) == 0
    assert not db.session.scalars(
        select(AuditEvent).where(AuditEvent.object_type.in_(["PartOrder", "PartOrderLine"]))
    ).all()


def test_an_inactive_supplier_cannot_be_ordered_from(seed, make_supplier):
    incident, _, part = seed
    closed = make_supplier(name="Closed Instruments", active=False)

    with pytest.raises(FieldError, match="Choose an active supplier"):
        order_parts(incident, _details(closed), [_transmitters(part)], actor=incident.created_by)

    assert _count(PartOrder) == 0


# --- status -------------------------------------------------------------------------------------

ALLOWED = [(a, b) for a in P for b in P if b in PART_ORDER_TRANSITIONS[a]]
FORBIDDEN = [(a, b) for a in P for b in P if b not in PART_ORDER_TRANSITIONS[a]]


def _in_status(seed, status: PartOrderStatus) -> PartOrder:
    order = _order(seed)
    order.status = status  # arranged directly: only the move under test goes through rules
    db.session.commit()
    return order


@pytest.mark.parametrize(("before", "after"), ALLOWED, ids=[f"{a}->{b}" for a, b in ALLOWED])
def test_every_allowed_status_change_is_made(seed, before, after):
    order = _in_status(seed, before)

    change_part_order_status(order, after, actor=order.created_by, today=TODAY)
    db.session.commit()

    db.session.expire_all()
    assert db.session.get(PartOrder, order.id).status is after


@pytest.mark.parametrize(("before", "after"), FORBIDDEN, ids=[f"{a}->{b}" for a, b in FORBIDDEN])
def test_every_other_status_change_is_refused(seed, before, after):
    order = _in_status(seed, before)
    events_before = len(_events(order))

    with pytest.raises(InvalidTransition) as refused:
        change_part_order_status(order, after, actor=order.created_by, today=TODAY)

    assert str(refused.value) == (
        f"PO-7781 is {before.label.lower()}; it cannot become {after.label.lower()}."
    )
    db.session.rollback()
    assert db.session.get(PartOrder, order.id).status is before
    assert len(_events(order)) == events_before


def test_the_transition_table_covers_the_order_lifecycle():
    assert len(ALLOWED) == 9
    assert PART_ORDER_TRANSITIONS[P.INSTALLED] == PART_ORDER_TRANSITIONS[P.CANCELLED] == set()


@pytest.mark.parametrize(
    "missing", [{"po_number": None}, {"expected_on": None}], ids=["no PO", "no date"]
)
def test_an_order_is_marked_ordered_only_with_po_number_and_expected_date(seed, missing):
    order = _order(seed, **missing)

    with pytest.raises(FieldError) as refused:
        change_part_order_status(order, P.ORDERED, actor=order.created_by, today=TODAY)

    assert refused.value.field == "status"
    assert refused.value.message == (
        "Enter the PO number and expected delivery date before marking it ordered."
    )
    db.session.rollback()
    assert db.session.get(PartOrder, order.id).status is P.TO_ORDER


def test_marking_ordered_keeps_the_order_date_given_or_records_today(seed):
    dated = _order(seed)
    undated = _order(seed, ordered_on=None)

    for order in (dated, undated):
        change_part_order_status(order, P.ORDERED, actor=order.created_by, today=TOMORROW)
    db.session.commit()

    assert (dated.status, dated.ordered_on) == (P.ORDERED, TODAY)
    assert (undated.status, undated.ordered_on) == (P.ORDERED, TOMORROW)


def test_receiving_records_the_day_it_arrived(seed):
    order = _order(seed)
    change_part_order_status(order, P.ORDERED, actor=order.created_by, today=TODAY)
    assert order.received_on is None

    change_part_order_status(order, P.RECEIVED, actor=order.created_by, today=date(2026, 11, 26))
    db.session.commit()

    db.session.expire_all()
    assert db.session.get(PartOrder, order.id).received_on == date(2026, 11, 26)


# --- return terms -------------------------------------------------------------------------------


def test_the_return_deadline_counts_from_expected_delivery_until_received(seed):
    order = _order(seed)  # expected 24 November, 30 days to return
    assert order.return_deadline == date(2026, 12, 24)

    change_part_order_status(order, P.ORDERED, actor=order.created_by, today=TODAY)
    change_part_order_status(order, P.RECEIVED, actor=order.created_by, today=date(2026, 11, 26))

    assert order.return_deadline == date(2026, 12, 26)


@pytest.mark.parametrize(
    "details",
    [{"return_window_days": None}, {"expected_on": None}],
    ids=["no returns", "no date to count from"],
)
def test_there_is_no_return_deadline_without_a_window_or_a_date(seed, details):
    assert _order(seed, **details).return_deadline is None


def test_a_zero_day_window_ends_on_the_delivery_day(seed):
    assert _order(seed, return_window_days=0).return_deadline == TOMORROW


def test_the_restocking_fee_is_a_percentage_of_the_net_cost_in_cents(seed):
    assert _order(seed).restocking_fee == Decimal("141.75")  # 15 % of 945.00
    assert _order(seed, restocking_fee_pct=Decimal("12.5")).restocking_fee == Decimal("118.13")
    assert _order(seed, restocking_fee_pct=Decimal("0")).restocking_fee == Decimal("0.00")


def test_new_delivery_date_and_terms_are_saved(seed):
    order = _order(seed)
    change_part_order_status(order, P.ORDERED, actor=order.created_by, today=TODAY)

    update_part_order(
        order,
        replace(_details(order.supplier), expected_on=date(2026, 11, 27), return_window_days=14),
        actor=order.created_by,
    )
    db.session.commit()

    db.session.expire_all()
    saved = db.session.get(PartOrder, order.id)
    assert (saved.status, saved.expected_on) == (P.ORDERED, date(2026, 11, 27))
    assert saved.return_deadline == date(2026, 12, 11)


@pytest.mark.parametrize("final", [P.INSTALLED, P.CANCELLED])
def test_an_installed_or_cancelled_order_can_no_longer_change(seed, final):
    order = _in_status(seed, final)

    with pytest.raises(DomainError, match=f"PO-7781 is {final.value}; it can no longer change"):
        update_part_order(
            order, _details(order.supplier, expected_on=date(2026, 12, 1)), actor=order.created_by
        )

    db.session.rollback()
    assert db.session.get(PartOrder, order.id).expected_on == TOMORROW


# --- audit trail --------------------------------------------------------------------------------


def test_each_change_to_an_order_is_in_the_audit_trail_with_who_made_it(seed, make_user):
    incident, supplier, part = seed
    technician = incident.created_by
    colleague = make_user(team=technician.team)
    order = order_parts(incident, _details(supplier), [_transmitters(part)], actor=technician)
    db.session.commit()
    change_part_order_status(order, P.ORDERED, actor=technician, today=TODAY)
    db.session.commit()
    update_part_order(order, _details(supplier, expected_on=date(2026, 11, 25)), actor=colleague)
    db.session.commit()
    change_part_order_status(order, P.RECEIVED, actor=colleague, today=date(2026, 11, 25))
    db.session.commit()

    events = _events(order)

    assert [(e.action, e.actor_id) for e in events] == [
        ("create", technician.id),
        ("update", technician.id),
        ("update", colleague.id),
        ("update", colleague.id),
    ]
    created, ordered, new_date, received = (e.changes for e in events)
    assert created["po_number"] == [None, "PO-7781"]
    assert created["status"] == [None, "to_order"]
    assert ordered == {"status": ["to_order", "ordered"]}
    assert new_date == {"expected_on": ["2026-11-24", "2026-11-25"]}
    assert received == {"status": ["ordered", "received"], "received_on": [None, "2026-11-25"]}
    line_events = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.object_type == "PartOrderLine",
            AuditEvent.object_id == order.lines[0].id,
        )
    ).all()
    assert [(e.action, e.actor_id) for e in line_events] == [("create", technician.id)]
    assert line_events[0].changes["unit_cost"] == [None, "350.00"]
