"""Approval rules are data an admin edits; supervisors can read them."""

from decimal import Decimal

from sqlalchemy import select

from fieldsvc.auth.models import Role
from fieldsvc.extensions import db
from fieldsvc.proposals.models import ApprovalMeasure, ApprovalRule


def test_admin_adds_a_rule_and_supervisors_read_it(client, signed_in):
    signed_in(Role.ADMIN)
    response = client.post(
        "/approval-rules/new",
        data={
            "description": "Total value above 10,000.00",
            "measure": "total_value",
            "threshold": "10000.00",
            "required_role": "admin",
        },
    )
    assert response.status_code == 302
    rule = db.session.scalars(select(ApprovalRule)).one()
    assert rule.measure is ApprovalMeasure.TOTAL_VALUE
    assert rule.threshold == Decimal("10000.00")
    assert rule.required_role is Role.ADMIN

    client.post("/logout")
    signed_in(Role.SUPERVISOR)
    page = client.get("/approval-rules/").get_data(as_text=True)
    assert "Total value above 10,000.00" in page
    assert "Total list value" in page
    assert client.post("/approval-rules/new", data={"description": "x"}).status_code == 403


def test_a_negative_threshold_is_refused(client, signed_in):
    signed_in(Role.ADMIN)
    response = client.post(
        "/approval-rules/new",
        data={
            "description": "Odd",
            "measure": "absorbed",
            "threshold": "-1",
            "required_role": "admin",
        },
    )
    assert response.status_code == 422
    assert "The amount cannot be negative." in response.get_data(as_text=True)
    assert db.session.scalars(select(ApprovalRule)).all() == []
