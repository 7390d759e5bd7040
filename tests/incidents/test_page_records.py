"""The incident page reads its part orders and proposals as plain records; they come to
the same figures, in the same order, as the mapped rows every other page reads."""

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from fieldsvc.extensions import db
from fieldsvc.parts.models import PartOrderStatus
from fieldsvc.parts.services import OrderDetails, OrderLineInput, order_parts, shown_part_orders
from fieldsvc.proposals.models import RevisionStatus
from fieldsvc.proposals.services import (
    duplicate_proposal,
    money_at_risk,
    money_at_risk_in,
    price,
    save_revision,
    shown_proposals,
    submit_revision,
)
from tests.proposals.broken_transmitters import TODAY, BrokenTransmitters, build_broken_transmitters


@pytest.fixture
def seed(app) -> BrokenTransmitters:
    """The broken transmitters with more on the record: a shipped order with a return
    window and a restocking fee, a cancelled one, an order without lines yet, a second
    revision of the offer and a second proposal."""
    seed = build_broken_transmitters()
    seed.order_more(
        status=PartOrderStatus.SHIPPED, return_window_days=30, restocking_fee_pct=Decimal("15")
    )
    seed.order_more(status=PartOrderStatus.CANCELLED, expected_on=TODAY + timedelta(days=3))
    order_parts(
        seed.incident,
        OrderDetails(supplier_id=seed.supplier.id, po_number="PO-EMPTY"),
        [OrderLineInput("Gasket set", Decimal("1.5"), Decimal("12.35"), Decimal("7.5"))],
        actor=seed.technician,
    )
    revision = seed.revision
    submit_revision(revision, actor=seed.technician, expected_version=revision.version)
    lines = seed.lines()
    lines[0] = replace(lines[0], customer_share_pct=Decimal("33.33"))
    save_revision(
        revision, seed.draft(lines=lines), actor=seed.technician, expected_version=revision.version
    )
    duplicate_proposal(seed.proposal, actor=seed.technician)
    db.session.commit()
    db.session.expire_all()
    return seed


def _orders(orders) -> list:
    return [
        (
            order.id,
            str(order),
            order.status,
            order.supplier.name,
            order.net_cost,
            order.restocking_fee,
            order.return_deadline,
            [(line.id, str(line), line.unit_cost, line.net_cost) for line in order.lines],
        )
        for order in orders
    ]


def _proposals(proposals) -> list:
    return [
        (
            proposal.id,
            [(r.id, r.number, r.status, [line.id for line in r.lines]) for r in proposal.revisions],
            price(proposal.current)[1],
            [priced.amounts for priced in price(proposal.current)[0]],
        )
        for proposal in proposals
    ]


def test_plain_part_orders_show_what_the_mapped_orders_show(seed):
    incident = seed.incident

    shown = shown_part_orders(incident.id)

    assert _orders(shown) == _orders(incident.part_orders)
    assert len(shown) == 4


def test_plain_proposals_price_as_the_mapped_proposals_do(seed):
    incident = seed.incident

    shown = shown_proposals(incident.id)

    assert _proposals(shown) == _proposals(incident.proposals)
    assert [len(p.revisions) for p in shown] == [2, 1]
    assert shown[0].current.lines[0].part_order_line.id == seed.ordered_line.id


@pytest.mark.parametrize("accepted", [False, True])
def test_money_at_risk_from_plain_records_is_the_mapped_figure(seed, accepted):
    incident = seed.incident
    if accepted:
        incident.proposals[1].current.status = RevisionStatus.ACCEPTED
        db.session.flush()

    shown = money_at_risk_in(shown_part_orders(incident.id), shown_proposals(incident.id))
    mapped = money_at_risk(incident)

    assert (shown.total, shown.restocking_fees, shown.earliest_return_deadline) == (
        mapped.total,
        mapped.restocking_fees,
        mapped.earliest_return_deadline,
    )
    assert [order.id for order in shown.orders] == [order.id for order in mapped.orders]
    assert bool(shown.orders) is not accepted
