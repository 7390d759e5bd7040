"""The dashboard's server time on SQLite with 1,000 and with 100,000 incidents, built
with bulk inserts as a company's history: 30 incidents a day (so 33 days or 9 years
of them), each with a follow-up and an audit event, every fifth with a part order, a
sent proposal and a survey answer. What is older than 60 days is done: resolved or
closed, follow-ups kept, parts installed, offers answered. Prints the median of each
and their ratio as the last line. Target: ratio <= 3 (issue 7).

    .venv/bin/python benchmarks/dashboard.py [N requests, default 20]
"""

import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import flask_migrate
from sqlalchemy import insert, select

from fieldsvc import create_app
from fieldsvc.audit.models import AuditEvent
from fieldsvc.auth.models import Role, Team
from fieldsvc.auth.services import create_user
from fieldsvc.customers.models import Contact, Customer, Site
from fieldsvc.extensions import db
from fieldsvc.incidents.models import FollowUp, Incident
from fieldsvc.parts.models import PartOrder, PartOrderLine, Supplier
from fieldsvc.portal.models import CustomerResponse, StatusLink, SurveyResponse
from fieldsvc.proposals.models import Proposal, ProposalLine, ProposalRevision

PASSWORD = "benchmark password"
CAUSES = ["pre_existing", "customer", "our_technician", "third_party", "unknown"]
OPEN = ["open", "remediation_proposed", "remediation_accepted"]
DONE = ["resolved", "closed"]
PER_DAY = 30
DONE_AFTER = timedelta(days=60)


def build(folder: Path, incidents: int):
    database = f"sqlite:///{folder / f'bench-{incidents}.sqlite3'}"
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": database, "WTF_CSRF_ENABLED": False, "SERVER_NAME": "bench"}
    )
    with app.app_context():
        flask_migrate.upgrade()
        team = Team(name="Bench team")
        db.session.add(team)
        db.session.flush()
        admin = create_user(
            name="Bench Admin",
            email="admin@bench.example",
            role=Role.ADMIN,
            password=PASSWORD,
            team_id=team.id,
            actor=None,
        )
        customer = Customer(name="Bench Customer", team=team)
        site = Site(customer=customer, name="Bench site", address="1 Bench Road")
        contact = Contact(customer=customer, name="Bench Contact", email="c@bench.example")
        supplier = Supplier(name="Bench Supplier")
        db.session.add_all([customer, site, contact, supplier])
        db.session.commit()
        _bulk(admin.id, customer.id, site.id, contact.id, supplier.id, incidents)
    return app


def _bulk(user_id, customer_id, site_id, contact_id, supplier_id, count) -> None:
    now = datetime.now(UTC)
    created = {n: now - timedelta(minutes=n * 24 * 60 // PER_DAY) for n in range(1, count + 1)}
    done = {n for n, at in created.items() if now - at > DONE_AFTER}
    db.session.execute(
        insert(Incident),
        [
            {
                "id": n,
                "reference": f"INC-B-{n:06d}",
                "customer_id": customer_id,
                "site_id": site_id,
                "status": DONE[n % 2] if n in done else OPEN[n % 3],
                "severity": "medium",
                "reported_via": "phone",
                "reporter_contact_id": contact_id,
                "actual": f"Bench incident {n}",
                "occurred_at": created[n],
                "cause_category": CAUSES[n % 5],
                "created_by_id": user_id,
                "created_at": created[n],
                "resolved_at": created[n] + timedelta(days=2) if n in done else None,
            }
            for n in range(1, count + 1)
        ],
    )
    db.session.execute(
        insert(FollowUp),
        [
            {
                "incident_id": n,
                "owner_id": user_id,
                "created_by_id": user_id,
                "due_at": created[n] + timedelta(days=1),
                "promise": "Call back",
                "created_at": created[n],
                "closed_at": created[n] + timedelta(hours=20) if n in done or n % 3 else None,
            }
            for n in range(1, count + 1)
        ],
    )
    fifth = range(1, count + 1, 5)
    db.session.execute(
        insert(PartOrder),
        [
            {
                "id": n,
                "incident_id": n,
                "supplier_id": supplier_id,
                "status": "installed" if n in done else "ordered",
                "po_number": f"PO-{n}",
                "ordered_on": created[n].date(),
                "expected_on": (created[n] + timedelta(days=5)).date(),
                "return_window_days": 30,
                "restocking_fee_pct": 10,
                "created_by_id": user_id,
                "created_at": created[n],
            }
            for n in fifth
        ],
    )
    db.session.execute(
        insert(PartOrderLine),
        [
            {
                "id": n,
                "part_order_id": n,
                "description": "Part",
                "quantity": 2,
                "unit_cost": 100,
                "discount_pct": 0,
            }
            for n in fifth
        ],
    )
    db.session.execute(
        insert(Proposal),
        [
            {"id": n, "incident_id": n, "author_id": user_id, "created_at": created[n]}
            for n in fifth
        ],
    )
    accepted = [n for n in fifth if n in done or n % 2]
    accepted_set = set(accepted)
    db.session.execute(
        insert(ProposalRevision),
        [
            {
                "id": n,
                "proposal_id": n,
                "number": 1,
                "status": "accepted" if n in accepted_set else "sent",
                "created_by_id": user_id,
                "created_at": created[n],
                "sent_at": created[n] + timedelta(days=1),
                "sent_by_id": user_id,
                "pdf_sha256": "0" * 64,
                "customer_pays": 100,
                "customer_tax": 0,
                "we_absorb": 100,
                "version": 1,
            }
            for n in fifth
        ],
    )
    db.session.execute(
        insert(ProposalLine),
        [
            {
                "revision_id": n,
                "position": 1,
                "kind": "part",
                "description": "Part",
                "quantity": 2,
                "unit_price": 100,
                "discount_pct": 0,
                "customer_share_pct": 50,
                "part_order_line_id": n,
            }
            for n in fifth
        ],
    )
    db.session.execute(
        insert(StatusLink),
        [
            {
                "id": n,
                "incident_id": n,
                "token_hash": f"{n:064d}",
                "created_at": created[n],
                "created_by_id": user_id,
                "expires_at": created[n] + timedelta(days=31),
            }
            for n in fifth
        ],
    )
    db.session.execute(
        insert(CustomerResponse),
        [
            {
                "revision_id": n,
                "status_link_id": n,
                "kind": "accepted",
                "full_name": "Bench",
                "comment": "",
                "ip_address": "127.0.0.1",
                "user_agent": "",
                "pdf_sha256": "0" * 64,
                "created_at": created[n] + timedelta(days=2),
            }
            for n in accepted
        ],
    )
    db.session.execute(
        insert(SurveyResponse),
        [
            {
                "incident_id": n,
                "status_link_id": n,
                "score": n % 11,
                "comment": "",
                "created_at": created[n] + timedelta(days=3),
            }
            for n in fifth
        ],
    )
    start = db.session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc())) or 0
    db.session.execute(
        insert(AuditEvent),
        [
            {
                "seq": start + n,
                "at": created[n],
                "actor_id": user_id,
                "action": "create",
                "object_type": "Incident",
                "object_id": n,
                "changes": json.loads('{"status": [null, "open"]}'),
                "reason": None,
                "prev_hash": "0" * 64,
                "hash": "0" * 64,
            }
            for n in range(1, count + 1)
        ],
    )
    db.session.commit()


def median_ms(app, times: int) -> float:
    client = app.test_client()
    client.post("/login", data={"email": "admin@bench.example", "password": PASSWORD})
    assert client.get("/dashboard").status_code == 200  # warm up
    spent = []
    for _ in range(times):
        start = time.perf_counter()
        response = client.get("/dashboard")
        spent.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    return statistics.median(spent)


def main(times: int) -> None:
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for count in (1_000, 100_000):
            started = time.perf_counter()
            app = build(Path(folder), count)
            built = time.perf_counter() - started
            results[count] = median_ms(app, times)
            print(
                f"{count:>7} incidents  built in {built:5.1f} s  dashboard {results[count]:.1f} ms"
            )
    print(f"ratio {results[100_000] / results[1_000]:.1f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
