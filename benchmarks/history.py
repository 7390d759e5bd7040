"""A company's history, bulk-loaded through the app's models for the benchmarks.

`build(url, incidents)` migrates an empty database and loads a company of 5 teams,
50 people, 500 customers (a site, a contact and 10 pieces of equipment each) and
`incidents` incidents, one every 26 minutes back from now (100,000 is five years):

- every incident: 2 equipment links, a kept call-back promise, a work-log entry, a
  call; the newest 600 (11 days, the same at every size): open, the others resolved
  or closed (a few cancelled);
- open promises: half the newest and every 7th older one (about 14,500 at 100k), a
  third of them overdue (about 4,800);
- every 5th incident: a part order (about 20,000), a proposal with two revisions
  (the first superseded) and their lines, a status link, the customer's answer and
  a satisfaction score once done; young ones wait at each step, some for approval;
- about 20 audit events an incident (2,000,000 at 100k), each sealed as the audit
  module seals it, so the chain verifies and every incident has a timeline.

What is derived is stored as the app derives it (the incident's next follow-up due
time and equipment tags, a sent revision's totals, the reports' kept figures); the text
search index fills itself.
"""

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import flask_migrate
from argon2 import PasswordHasher
from flask import Flask
from sqlalchemy import event, insert

from fieldsvc import clock, create_app
from fieldsvc.audit import services as audit
from fieldsvc.audit.models import AuditEvent
from fieldsvc.audit.sealing import chain_head, seal_rows
from fieldsvc.auth import services as auth_services
from fieldsvc.auth.models import Role, Team
from fieldsvc.customers.models import Contact, Customer, Equipment, Site
from fieldsvc.database import analyze_sqlite
from fieldsvc.extensions import db
from fieldsvc.incidents import search
from fieldsvc.incidents.models import (
    Communication,
    FollowUp,
    Incident,
    IncidentEquipment,
    WorkLogEntry,
)
from fieldsvc.parts.models import PartOrder, PartOrderLine, Supplier
from fieldsvc.portal.models import CustomerResponse, StatusLink, SurveyResponse
from fieldsvc.proposals.models import Proposal, ProposalLine, ProposalRevision
from fieldsvc.reports import months, rollups, steps

PASSWORD = "benchmark password"
TEAMS, PEOPLE_PER_TEAM, CUSTOMERS, EQUIPMENT_PER_SITE = 5, 10, 500, 10
STEP = timedelta(days=5 * 365) / 100_000
# The newest incidents are the work in progress: as many at every size, so that two
# sizes differ only in how much history lies behind the same present.
YOUNG = 600
CHUNK = 5_000
CAUSES = ["pre_existing", "customer", "our_technician", "third_party", "unknown"]
SEVERITIES = ["low", "medium", "high", "critical"]
VIA = ["on_site", "phone", "email", "portal"]
OPEN = ["open", "remediation_proposed", "remediation_accepted"]
WORDS = ["diaphragm", "valve", "seal", "sensor", "flange", "gasket", "display", "cable"]
# Revision 2 of a young incident's proposal, by n // 5 % 5: where the offer stands.
YOUNG_REVISION = ["submitted", "draft", "approved", "sent", "changes_requested"]


def build(url: str, incidents: int, *, now: datetime | None = None) -> Flask:
    """Migrate the empty database at `url` and load the history into it."""
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "WTF_CSRF_ENABLED": False, "SERVER_NAME": "bench"}
    )
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _loading_sqlite)
        flask_migrate.upgrade()
        people = _people_and_customers()
        _bulk(people, incidents, now or datetime.now(UTC))
        # The reports' kept figures, written by the code the migrations fill them with.
        connection = db.session.connection()
        rollups.recompute(connection)
        months.rebuild(connection, clock.company_zone())
        steps.rebuild(connection)
        if connection.dialect.name == "postgresql":
            _advance_sequences(connection)
            db.session.commit()
            search.rebuild_indexes(db.session.connection())  # after the rewrite committed
            db.session.commit()
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.exec_driver_sql("VACUUM ANALYZE")
        else:
            analyze_sqlite(connection)  # after a bulk load, as after a migration
            db.session.commit()
        db.session.remove()
        db.engine.dispose()
        if db.engine.dialect.name == "sqlite":
            event.remove(db.engine, "connect", _loading_sqlite)
            # Back to the app's own settings: a connection opened now is configured as
            # the app configures every one, which puts the file back into WAL mode.
            db.engine.connect().close()
            db.engine.dispose()
    return app


def _loading_sqlite(dbapi_connection, connection_record) -> None:
    """A throw-away file being filled by one connection: no journal file and no
    fsync (a build that fails is discarded, never used), a page cache that holds
    what a chunk touches, and temporary B-trees in memory. Runs after the app's
    own settings, which it overrides only while the set is built."""
    dbapi_connection.execute("PRAGMA journal_mode = MEMORY")
    dbapi_connection.execute("PRAGMA synchronous = OFF")
    dbapi_connection.execute("PRAGMA cache_size = -262144")  # 256 MiB
    dbapi_connection.execute("PRAGMA temp_store = MEMORY")


def _advance_sequences(connection) -> None:
    """Rows were given their ids: move each table's id sequence past them."""
    for table in db.metadata.sorted_tables:
        if "id" in table.c and table.c.id.autoincrement and table.c.id.primary_key:
            connection.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"coalesce((SELECT max(id) FROM {table.name}), 0) + 1, false)"
            )


def _people_and_customers() -> dict:
    """Teams, people, customers, sites, contacts, equipment, suppliers: through the
    models, so the audit trail records them as it records any change."""
    production = auth_services._hasher
    auth_services._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    try:
        teams = [Team(name=f"Team {t + 1}") for t in range(TEAMS)]
        db.session.add_all(teams)
        db.session.flush()
        users = []
        for t, p in itertools.product(range(TEAMS), range(PEOPLE_PER_TEAM)):
            role = Role.SUPERVISOR if p == 0 else Role.TECHNICIAN
            if (t, p) == (0, 9):
                role = Role.ADMIN
            users.append(
                auth_services.create_user(
                    name=f"Person {t + 1}-{p + 1}",
                    email=f"p{t + 1}-{p + 1}@bench.example",
                    role=role,
                    password=PASSWORD,
                    team_id=teams[t].id,
                    actor=None,
                )
            )
        for user in users:
            if user.role is Role.SUPERVISOR:
                user.approval_limit = Decimal("100000.00")
    finally:
        auth_services._hasher = production
    customers = [
        Customer(name=f"Customer {c + 1:03d}", team=teams[c % TEAMS]) for c in range(CUSTOMERS)
    ]
    sites = [
        Site(customer=c, name="Main plant", address=f"{i} Bench Road")
        for i, c in enumerate(customers, 1)
    ]
    contacts = [
        Contact(customer=c, name=f"Contact {i}", email=f"c{i}@customer.example")
        for i, c in enumerate(customers, 1)
    ]
    equipment = [
        Equipment(site=site, tag=f"PT-{i:03d}-{e:02d}", serial=f"S{i}{e}", model="PTX-400")
        for i, site in enumerate(sites, 1)
        for e in range(EQUIPMENT_PER_SITE)
    ]
    suppliers = [Supplier(name=f"Supplier {s + 1}") for s in range(20)]
    db.session.add_all([*customers, *sites, *contacts, *equipment, *suppliers])
    db.session.flush()
    ids = {
        "users": [u.id for u in users],
        "customers": [c.id for c in customers],
        "sites": [s.id for s in sites],
        "contacts": [c.id for c in contacts],
        "equipment": [e.id for e in equipment],
        "tags": [e.tag for e in equipment],
        "suppliers": [s.id for s in suppliers],
    }
    db.session.commit()
    return ids


def _bulk(ids: dict, count: int, now: datetime) -> None:
    chain = _Chain(*chain_head(db.session.connection()))
    ids["follow_up"] = itertools.count(1)
    # Oldest first, so ids and the audit trail's order follow time.
    numbers = list(range(count, 0, -1))
    for start in range(0, count, CHUNK):
        rows: dict[type, list[dict]] = {}
        events: list[dict] = []
        for n in numbers[start : start + CHUNK]:
            _incident(n, count, ids, now, rows, events)
        connection = db.session.connection()
        for model in (
            Incident,
            IncidentEquipment,
            FollowUp,
            WorkLogEntry,
            Communication,
            PartOrder,
            PartOrderLine,
            Proposal,
            ProposalRevision,
            ProposalLine,
            StatusLink,
            CustomerResponse,
            SurveyResponse,
        ):
            if rows.get(model):
                connection.execute(insert(model.__table__), rows[model])
        events.sort(key=lambda e: e["at"])
        connection.execute(insert(AuditEvent.__table__), chain.seal(events))
        db.session.commit()


class _Chain:
    def __init__(self, seq: int, prev_hash: str) -> None:
        self.seq, self.prev_hash = seq, prev_hash

    def seal(self, events: list[dict]) -> list[dict]:
        """The events sealed by the audit module, linked to the chain so far."""
        rows = seal_rows(
            ({"reason": None, **event} for event in events), seq=self.seq, prev_hash=self.prev_hash
        )
        if rows:
            self.seq, self.prev_hash = rows[-1]["seq"], rows[-1]["hash"]
        return rows


def _event(at, actor, action, obj: str, obj_id: int, changes: dict) -> dict:
    return {
        "at": at,
        "actor_id": actor,
        "action": action,
        "object_type": obj,
        "object_id": obj_id,
        "changes": changes,
    }


def _created(values: dict, skip=("id",)) -> dict:
    return {k: [None, audit._jsonable(v)] for k, v in values.items() if k not in skip}


def _incident(n: int, count: int, ids: dict, now: datetime, rows: dict, events: list) -> None:
    """Incident number n (1 is the newest) with everything that hangs off it."""
    add = lambda model, row: rows.setdefault(model, []).append(row)  # noqa: E731
    created = now - n * STEP
    young = n <= YOUNG
    c = n % CUSTOMERS
    team = c % TEAMS
    technician = ids["users"][team * PEOPLE_PER_TEAM + 1 + (n // TEAMS) % 8]
    supervisor = ids["users"][team * PEOPLE_PER_TEAM]
    incident_id = count - n + 1
    done = "cancelled" if n % 97 == 0 else ("resolved", "closed")[n % 2]
    status = OPEN[n % 3] if young else done
    word = WORDS[n % len(WORDS)]
    incident = {
        "id": incident_id,
        "reference": f"INC-{created.year}-B{incident_id:06d}",
        "customer_id": ids["customers"][c],
        "site_id": ids["sites"][c],
        "status": status,
        "severity": SEVERITIES[n % 4],
        "reported_via": VIA[n % 4],
        "reporter_contact_id": ids["contacts"][c],
        "expected": "Calibrated and back in service",
        "actual": f"{word.capitalize()} damaged during calibration, unit {n}",
        "occurred_at": created - timedelta(hours=1),
        "cause_category": CAUSES[n % 5],
        "created_by_id": technician,
        "created_at": created,
        "resolved_at": None if young or status == "cancelled" else created + timedelta(days=3),
    }
    events.append(
        _event(created, technician, "create", "Incident", incident_id, _created(incident))
    )
    tags = []
    for k in range(2):
        link_id = incident_id * 2 - 1 + k
        piece = c * EQUIPMENT_PER_SITE + (n + 3 * k) % EQUIPMENT_PER_SITE
        equipment, tags = ids["equipment"][piece], [*tags, ids["tags"][piece]]
        link = {"id": link_id, "incident_id": incident_id, "equipment_id": equipment}
        add(IncidentEquipment, link)
        events.append(
            _event(created, technician, "create", "IncidentEquipment", link_id, _created(link))
        )
    # Promises: a kept call-back; an open one for half the young and every 8th older.
    promises = [(created + timedelta(days=1), created + timedelta(hours=20))]
    if (young and n % 2) or (not young and n % 7 == 0):
        overdue = n % 3 == 0
        due = created + timedelta(days=30) if overdue else now + timedelta(days=1 + n % 30)
        if overdue and due > now:
            due = now - timedelta(hours=1 + n % 48)
        promises.append((due, None))
    open_due = []
    for due, closed in promises:
        follow_up_id = next(ids["follow_up"])
        follow_up = {
            "id": follow_up_id,
            "incident_id": incident_id,
            "owner_id": technician,
            "created_by_id": technician,
            "due_at": due,
            "promise": "Call back with the delivery date",
            "created_at": created,
            "closed_at": closed,
            "outcome": "done" if closed else None,
            "outcome_note": "Told the customer" if closed else None,
        }
        add(FollowUp, follow_up)
        events.append(
            _event(
                created,
                technician,
                "create",
                "FollowUp",
                follow_up_id,
                _created(follow_up, ("id", "closed_at", "outcome", "outcome_note")),
            )
        )
        if closed:
            events.append(
                _event(
                    closed,
                    technician,
                    "update",
                    "FollowUp",
                    follow_up_id,
                    {"closed_at": [None, audit._jsonable(closed)], "outcome": [None, "done"]},
                )
            )
        else:
            open_due.append(due)
    incident["next_follow_up_due_at"] = min(open_due) if open_due else None
    incident["equipment_tags"] = search.TAG_SEPARATOR.join(sorted(tags))
    add(Incident, incident)
    work = {
        "id": incident_id,
        "incident_id": incident_id,
        "user_id": technician,
        "started_at": created + timedelta(hours=2),
        "minutes": 30 + n % 90,
        "note": f"Replaced the {word}",
    }
    add(WorkLogEntry, work)
    events.append(
        _event(
            work["started_at"], technician, "create", "WorkLogEntry", incident_id, _created(work)
        )
    )
    call = {
        "id": incident_id,
        "incident_id": incident_id,
        "channel": "phone",
        "direction": "outbound",
        "summary": "Explained what happened and what comes next",
        "at": created + timedelta(hours=1),
        "user_id": technician,
    }
    add(Communication, call)
    events.append(
        _event(call["at"], technician, "create", "Communication", incident_id, _created(call))
    )
    if n % 5 == 0:
        _offer(n, incident_id, created, young, status, ids, technician, supervisor, add, events)
    # The status on its way to today's, and the edits of a record kept up to date.
    path = {
        "open": [],
        "remediation_proposed": ["remediation_proposed"],
        "remediation_accepted": ["remediation_proposed", "remediation_accepted"],
        "resolved": ["resolved"],
        "closed": ["resolved", "closed"],
        "cancelled": ["cancelled"],
    }[status]
    before = "open"
    for step, after in enumerate(path, 1):
        at = created + timedelta(days=step)
        events.append(
            _event(at, supervisor, "update", "Incident", incident_id, {"status": [before, after]})
        )
        before = after
    edits = 10 if n % 5 else 4
    for edit in range(edits):
        at = created + timedelta(minutes=10 + edit)
        events.append(
            _event(
                at,
                technician,
                "update",
                "Incident",
                incident_id,
                {"expected": [f"Draft {edit}", f"Draft {edit + 1}"]},
            )
        )


def _offer(n, incident_id, created, young, status, ids, technician, supervisor, add, events):
    """Parts ordered before the customer says yes, and the proposal's two revisions."""
    order_id = incident_id  # one order per 5th incident: ids stay unique
    order = {
        "id": order_id,
        "incident_id": incident_id,
        "supplier_id": ids["suppliers"][n % len(ids["suppliers"])],
        "status": "ordered" if young else "installed",
        "po_number": f"PO-{order_id}",
        "ordered_on": created.date(),
        "expected_on": (created + timedelta(days=5)).date(),
        "return_window_days": 30,
        "restocking_fee_pct": Decimal("10"),
        "created_by_id": technician,
        "created_at": created,
    }
    add(PartOrder, order)
    line = {
        "id": order_id,
        "part_order_id": order_id,
        "description": "PTX-400 transmitter",
        "quantity": Decimal("2"),
        "unit_cost": Decimal("350.00"),
        "discount_pct": Decimal("10"),
    }
    add(PartOrderLine, line)
    events.append(_event(created, technician, "create", "PartOrder", order_id, _created(order)))
    events.append(_event(created, technician, "create", "PartOrderLine", order_id, _created(line)))
    proposal = {
        "id": incident_id,
        "incident_id": incident_id,
        "author_id": technician,
        "created_at": created,
    }
    add(Proposal, proposal)
    events.append(
        _event(created, technician, "create", "Proposal", incident_id, _created(proposal))
    )
    answered = "declined" if n % 15 == 0 else "accepted"
    final = YOUNG_REVISION[n // 5 % 5] if young else answered
    sent = final in ("sent", "accepted", "declined")
    for number, revision_status in ((1, "superseded"), (2, final)):
        revision_id = incident_id * 2 - 2 + number
        at = created + timedelta(hours=number * 3)
        revision = {
            "id": revision_id,
            "proposal_id": incident_id,
            "number": number,
            "status": revision_status,
            "what_happened": "Two transmitters were over-pressured during calibration.",
            "already_done": "Replacements are ordered.",
            "plan": "We replace both tomorrow and calibrate them.",
            "contact_id": ids["contacts"][n % CUSTOMERS],
            "return_visit_at": created + timedelta(days=2),
            "return_technician_id": technician,
            "valid_until": (created + timedelta(days=30)).date(),
            "acknowledged_warnings": [],
            "created_by_id": technician,
            "created_at": at,
            "submitted_at": at if revision_status != "draft" else None,
            "reviewed_by_id": supervisor if revision_status not in ("draft", "submitted") else None,
            "reviewed_at": at if revision_status not in ("draft", "submitted") else None,
            "sent_at": at + timedelta(hours=1) if number == 2 and sent else None,
            "sent_by_id": supervisor if number == 2 and sent else None,
            "pdf_sha256": "0" * 64 if number == 2 and sent else None,
            "customer_pays": Decimal("350.00") if number == 2 and sent else None,
            "customer_tax": Decimal("0.00") if number == 2 and sent else None,
            "we_absorb": Decimal("560.00") if number == 2 and sent else None,
            "version": 1,
        }
        add(ProposalRevision, revision)
        events.append(
            _event(
                at,
                technician,
                "create",
                "ProposalRevision",
                revision_id,
                _created(revision, ("id", "acknowledged_warnings")),
            )
        )
        for position, (kind, description, price, share) in enumerate(
            (("part", "PTX-400 transmitter", "350.00", 50), ("labour", "Calibration", "120.00", 0)),
            1,
        ):
            line_row = {
                "id": revision_id * 2 - 2 + position,
                "revision_id": revision_id,
                "position": position,
                "kind": kind,
                "description": description,
                "quantity": Decimal("2"),
                "unit_price": Decimal(price),
                "discount_pct": Decimal("0"),
                "customer_share_pct": Decimal(share),
                "part_order_line_id": order_id if kind == "part" else None,
            }
            add(ProposalLine, line_row)
            events.append(
                _event(at, technician, "create", "ProposalLine", line_row["id"], _created(line_row))
            )
    if sent or not young:
        add(
            StatusLink,
            {
                "id": incident_id,
                "incident_id": incident_id,
                "token_hash": f"{incident_id:064d}",
                "created_at": created + timedelta(hours=7),
                "created_by_id": supervisor,
                "expires_at": created + timedelta(days=60),
            },
        )
    if final in ("accepted", "declined"):
        add(
            CustomerResponse,
            {
                "revision_id": incident_id * 2,
                "status_link_id": incident_id,
                "kind": final,
                "full_name": "Contact" if final == "accepted" else None,
                "reason": None if final == "accepted" else "price",
                "comment": "",
                "ip_address": "127.0.0.1",
                "user_agent": "",
                "pdf_sha256": "0" * 64,
                "created_at": created + timedelta(days=1),
            },
        )
    if status in ("resolved", "closed"):
        add(
            SurveyResponse,
            {
                "incident_id": incident_id,
                "status_link_id": incident_id,
                "score": n % 11,
                "comment": "",
                "created_at": created + timedelta(days=4),
            },
        )
