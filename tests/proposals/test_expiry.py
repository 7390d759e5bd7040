"""When an offer is declined or expires, the parts bought before a yes must go back:
its author gets a follow-up naming them, the amount and the return deadline."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from fieldsvc.audit.services import acting
from fieldsvc.database import utcnow
from fieldsvc.errors import FieldError
from fieldsvc.extensions import db
from fieldsvc.incidents.models import FollowUp, IncidentStatus
from fieldsvc.parts.models import PartOrderStatus
from fieldsvc.parts.services import (
    OrderDetails,
    OrderLineInput,
    change_part_order_status,
    order_parts,
)
from fieldsvc.proposals import services
from fieldsvc.proposals.models import LineKind, RevisionStatus


def _sent_offer(make_incident, make_supplier, make_user, valid_until: date):
    incident = make_incident()
    author = incident.created_by
    order = order_parts(
        incident,
        OrderDetails(
            supplier_id=make_supplier().id,
            po_number="PO-7781",
            ordered_on=date.today(),
            expected_on=date.today() + timedelta(days=1),
            return_window_days=30,
            restocking_fee_pct=Decimal("15"),
        ),
        [OrderLineInput("PTX-400", Decimal("3"), Decimal("350.00"), Decimal("10"))],
        actor=author,
    )
    change_part_order_status(order, PartOrderStatus.ORDERED, actor=author)
    proposal = services.draft_proposal(
        incident,
        services.RevisionDraft(
            valid_until=valid_until,
            lines=[
                services.LineDraft(
                    LineKind.PART,
                    "PTX-400",
                    Decimal("2"),
                    Decimal("350.00"),
                    customer_share_pct=Decimal("50"),
                    part_order_line_id=order.lines[0].id,
                )
            ],
        ),
        actor=author,
    )
    with acting(None):
        # As sending leaves it (sending itself is tested in test_sending.py).
        proposal.current.status = RevisionStatus.SENT
        incident.status = IncidentStatus.REMEDIATION_PROPOSED
        db.session.flush()
    return proposal.current, author


def test_an_expired_offer_leaves_its_author_a_follow_up_to_return_the_parts(
    make_incident, make_supplier, make_user
):
    revision, author = _sent_offer(
        make_incident, make_supplier, make_user, valid_until=date.today() - timedelta(days=1)
    )
    still_valid, _ = _sent_offer(
        make_incident, make_supplier, make_user, valid_until=date.today() + timedelta(days=5)
    )

    expired = services.expire_revisions()

    assert expired == [revision]
    assert revision.status is RevisionStatus.EXPIRED
    assert revision.proposal.incident.status is IncidentStatus.OPEN  # to be dealt with again
    assert still_valid.status is RevisionStatus.SENT
    assert still_valid.proposal.incident.status is IncidentStatus.REMEDIATION_PROPOSED
    follow_up = db.session.scalars(
        select(FollowUp).where(FollowUp.incident_id == revision.proposal.incident_id)
    ).one()
    assert follow_up.owner == author
    assert follow_up.due_at > utcnow()
    assert "Offer expired: cancel or return the parts" in follow_up.promise
    assert "PO-7781" in follow_up.promise and "945.00" in follow_up.promise
    deadline = date.today() + timedelta(days=31)
    assert f"before {deadline:%A} {deadline.day} {deadline:%B %Y}" in follow_up.promise
    assert "restocking fees 141.75" in follow_up.promise
    assert services.expire_revisions() == []  # running it again changes nothing


def test_a_declined_offer_needs_a_reason_and_leaves_a_follow_up(
    make_incident, make_supplier, make_user
):
    revision, _ = _sent_offer(
        make_incident, make_supplier, make_user, valid_until=date.today() + timedelta(days=5)
    )
    with pytest.raises(FieldError, match="Say why the offer was declined"):
        services.decline_revision(revision, reason="  ", actor=None)
    assert revision.status is RevisionStatus.SENT

    services.decline_revision(revision, reason="Prefers to buy the parts locally", actor=None)

    assert revision.status is RevisionStatus.DECLINED
    promise = db.session.scalars(select(FollowUp.promise)).one()
    assert promise.startswith("Offer declined: cancel or return the parts")


def test_the_expire_command_reports_what_it_did(runner, make_incident, make_supplier, make_user):
    _sent_offer(
        make_incident, make_supplier, make_user, valid_until=date.today() - timedelta(days=2)
    )
    db.session.commit()
    result = runner.invoke(args=["proposals", "expire"])
    assert result.exit_code == 0, result.output
    assert "1 offer(s) expired" in result.output
