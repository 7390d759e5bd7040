"""Part orders and proposals through the API: read whole (totals, send gate, approval,
the customer's answer, the frozen PDF, e-mail delivery), drafts edited with If-Match,
and another team's proposal not found."""

import hashlib
from datetime import timedelta

import pytest

from fieldsvc.database import utcnow
from fieldsvc.extensions import db
from fieldsvc.mail.services import retry_pending
from fieldsvc.proposals import services as proposal_services
from tests.proposals.broken_transmitters import build_broken_transmitters, send


@pytest.fixture
def seed(app):
    return build_broken_transmitters()


def test_a_proposal_reads_with_its_lines_totals_and_send_gate(api_as, seed):
    api = api_as(seed.technician)

    response = api.get(f"/proposals/{seed.proposal.id}")

    assert response.status_code == 200
    assert response.headers["ETag"] == f'"v{seed.revision.version}"'
    current = response.json["current"]
    assert current["status"] == "draft"
    assert current["totals"]["list_value"] == "1530.00"
    assert current["totals"]["we_absorb"] == "1180.00"
    assert [line["kind"] for line in current["lines"]] == [
        line.kind.value for line in seed.revision.lines
    ]
    gate = [problem.message for problem in proposal_services.send_gate(seed.revision)]
    assert current["send_gate"] == {"open": not gate, "problems": gate}
    assert current["customer_answer"] is None and current["sent"] is None


def test_a_draft_is_edited_with_its_etag_and_a_stale_one_is_refused(api_as, seed):
    api = api_as(seed.technician)
    path = f"/proposals/{seed.proposal.id}"
    etag = api.get(path).headers["ETag"]
    body = {
        "what_happened": "We damaged two transmitters.",
        "already_done": "Three are ordered.",
        "plan": "We return tomorrow to fit them.",
        "contact_id": seed.contact.id,
        "lines": [
            {
                "kind": "labour",
                "description": "Return visit",
                "quantity": "2",
                "unit_price": "95.00",
            }
        ],
    }

    without = api.put(f"{path}/current", json=body)
    saved = api.put(f"{path}/current", json=body, headers={"If-Match": etag})
    stale = api.put(f"{path}/current", json={**body, "plan": "Other"}, headers={"If-Match": etag})

    assert without.status_code == 428
    assert saved.status_code == 200 and saved.headers["ETag"] != etag
    assert saved.json["totals"]["list_value"] == "190.00"
    assert stale.status_code == 412 and stale.mimetype == "application/problem+json"
    db.session.expire_all()
    assert seed.revision.plan == "We return tomorrow to fit them."


def test_a_line_outside_its_range_is_a_problem_on_that_line(api_as, seed):
    api = api_as(seed.technician)
    path = f"/proposals/{seed.proposal.id}"
    etag = api.get(path).headers["ETag"]

    response = api.put(
        f"{path}/current",
        json={
            "lines": [{"kind": "labour", "description": "x", "quantity": "1", "unit_price": "-5"}]
        },
        headers={"If-Match": etag},
    )

    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert response.json["errors"][0]["field"].startswith("lines")


def test_a_sent_proposal_gives_its_frozen_pdf_and_its_e_mails_delivery(api_as, seed, smtp_server):
    send(seed)
    api = api_as(seed.supervisor)
    base = f"/proposals/{seed.proposal.id}/revisions/1"

    revision = api.get(base).json
    frozen = api.get(f"{base}/proposal.pdf")
    queued = api.get(f"{base}/emails").json
    retry_pending(now=utcnow() + timedelta(minutes=5))
    emails = api.get(f"{base}/emails").json

    assert revision["status"] == "sent"
    assert revision["approval"]["reviewed_by"] == seed.supervisor.name
    assert frozen.mimetype == "application/pdf"
    assert hashlib.sha256(frozen.data).hexdigest() == revision["sent"]["pdf_sha256"]
    assert [e["status"] for e in queued] == ["pending"]
    assert [(e["to_address"], e["status"]) for e in emails] == [
        ("dana.whitfield@northwind.example", "sent")
    ]


def test_a_draft_has_no_frozen_pdf(api_as, seed):
    response = api_as(seed.technician).get(
        f"/proposals/{seed.proposal.id}/revisions/1/proposal.pdf"
    )
    assert response.status_code == 404


def test_another_teams_proposal_and_part_orders_are_not_found(api_as, seed):
    other = build_broken_transmitters(other="Other ")
    api = api_as(seed.technician)

    for path in (
        f"/proposals/{other.proposal.id}",
        f"/proposals/{other.proposal.id}/revisions/1",
        f"/proposals/{other.proposal.id}/revisions/1/emails",
        f"/part-orders/{other.order.id}",
        f"/incidents/{other.incident.id}/proposals",
    ):
        assert api.get(path).status_code == 404, path


def test_a_technician_drafts_a_proposal_and_orders_parts_through_the_api(api_as, seed):
    api = api_as(seed.technician)
    incident = f"/incidents/{seed.incident.id}"

    ordered = api.post(
        f"{incident}/part-orders",
        json={
            "supplier_id": seed.supplier.id,
            "po_number": "PO-9001",
            "expected_on": (utcnow() + timedelta(days=2)).date().isoformat(),
            "lines": [{"description": "Mounting kit", "quantity": "2", "unit_cost": "40.00"}],
        },
    )
    placed = api.post(f"/part-orders/{ordered.json['id']}/status", json={"status": "ordered"})
    drafted = api.post(f"{incident}/proposals", json={"plan": "Fit the kits"})

    assert ordered.status_code == 201 and ordered.json["status"] == "to_order"
    assert placed.status_code == 200 and placed.json["status"] == "ordered"
    assert drafted.status_code == 201 and drafted.json["current"]["number"] == 1
    assert drafted.json["current"]["send_gate"]["open"] is False
    orders = api.get(f"{incident}/part-orders").json
    assert [order["po_number"] for order in orders] == [seed.order.po_number, "PO-9001"]
