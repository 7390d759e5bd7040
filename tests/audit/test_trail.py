"""The audit trail: every change of a domain object, chained and sealed, verifiable."""

from itertools import pairwise

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError

from fieldsvc.audit.models import AuditEvent
from fieldsvc.audit.sealing import GENESIS_HASH
from fieldsvc.audit.services import acting, events_about, latest_events_about, record
from fieldsvc.audit.verification import verify_trail
from fieldsvc.auth.models import Role
from fieldsvc.customers.models import Customer
from fieldsvc.extensions import db
from fieldsvc.incidents.models import IncidentEquipment


def _events(obj) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.object_type == type(obj).__name__, AuditEvent.object_id == obj.id)
            .order_by(AuditEvent.seq)
        )
    )


def test_create_update_and_delete_each_write_an_event_with_actor_reason_and_diff(app, make_user):
    admin = make_user(Role.ADMIN)
    with acting(admin, reason="new key account"):
        customer = Customer(name="Northwind")
        db.session.add(customer)
        db.session.flush()
    with acting(admin, reason="legal name"):
        customer.name = "Northwind Pharma"
        db.session.flush()
    customer_id = customer.id
    with acting(admin, reason="duplicate"):
        db.session.delete(customer)
        db.session.flush()

    events = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.object_type == "Customer", AuditEvent.object_id == customer_id)
        .order_by(AuditEvent.seq)
    ).all()
    assert [e.action for e in events] == ["create", "update", "delete"]
    assert [e.reason for e in events] == ["new key account", "legal name", "duplicate"]
    assert {e.actor_id for e in events} == {admin.id}
    assert events[0].changes["name"] == [None, "Northwind"]
    assert events[1].changes == {"name": ["Northwind", "Northwind Pharma"]}
    assert events[2].changes["name"] == [None, "Northwind Pharma"]
    assert all(e.at.tzinfo is not None for e in events)


def test_events_are_chained_each_to_the_one_before(app, make_customer):
    make_customer()
    make_customer()
    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
    assert events[0].prev_hash == GENESIS_HASH
    for before, after in pairwise(events):
        assert after.prev_hash == before.hash
        assert after.seq == before.seq + 1
    assert len({e.hash for e in events}) == len(events)


def test_a_change_that_changes_nothing_writes_no_event(app, make_customer):
    customer = make_customer(name="Same")
    count = len(_events(customer))
    customer.name = "Same"
    db.session.flush()
    assert len(_events(customer)) == count


def test_named_actions_can_be_recorded(app, make_customer):
    customer = make_customer()
    record(customer, "tone_warning_acknowledged", {"phrase": "our policy"}, reason="quoted")
    event = _events(customer)[-1]
    assert (event.action, event.changes, event.reason) == (
        "tone_warning_acknowledged",
        {"phrase": "our policy"},
        "quoted",
    )


def test_a_rolled_back_change_leaves_no_event(app, make_customer):
    make_customer()
    db.session.commit()
    count = db.session.scalar(select(db.func.count()).select_from(AuditEvent))
    db.session.add(Customer(name="Never"))
    db.session.flush()
    db.session.rollback()
    assert db.session.scalar(select(db.func.count()).select_from(AuditEvent)) == count


# --- verification ------------------------------------------------------------------------


@pytest.fixture
def chain(app, make_customer, insider):
    """A few committed events, and the append-only triggers lifted (inside the test's
    transaction) to play an intruder with the database owner's rights."""
    for name in ("A", "B", "C"):
        make_customer(name=name)
    db.session.commit()
    insider.lift_triggers()
    return db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()


def test_verify_passes_an_intact_chain(runner, chain):
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0
    assert f"audit trail intact: {len(chain)} events checked" in result.output


def test_verify_fails_on_an_edited_event(runner, chain):
    victim = chain[1]
    db.session.execute(
        update(AuditEvent).where(AuditEvent.id == victim.id).values(changes={"name": [None, "Z"]})
    )
    db.session.expire_all()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"audit event #{victim.seq} (id {victim.id})" in result.output
    assert "altered" in result.output


def test_verify_fails_on_a_deleted_event(runner, chain):
    victim = chain[1]
    db.session.execute(delete(AuditEvent).where(AuditEvent.id == victim.id))
    db.session.expire_all()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"audit event #{victim.seq + 1}" in result.output
    assert "missing" in result.output


def test_verify_fails_on_an_event_inserted_out_of_order(runner, chain):
    # Two events swap places: each still hashes correctly, but the links break.
    (first_id, first_seq), (second_id, second_seq) = [(e.id, e.seq) for e in chain[:2]]
    db.session.execute(update(AuditEvent).where(AuditEvent.id == first_id).values(seq=-1))
    db.session.execute(update(AuditEvent).where(AuditEvent.id == second_id).values(seq=first_seq))
    db.session.execute(update(AuditEvent).where(AuditEvent.id == first_id).values(seq=second_seq))
    db.session.expire_all()
    problems = [str(problem) for problem in verify_trail().problems]
    assert any("does not link" in problem for problem in problems)
    assert runner.invoke(args=["audit", "verify"]).exit_code == 1


def test_the_database_refuses_update_and_delete_of_audit_events(app, make_customer):
    make_customer()
    event = db.session.scalars(select(AuditEvent)).first()
    for statement in (
        update(AuditEvent).where(AuditEvent.id == event.id).values(reason="rewritten"),
        delete(AuditEvent).where(AuditEvent.id == event.id),
    ):
        with (
            pytest.raises(DBAPIError, match="audit_events is append-only"),
            db.session.begin_nested(),
        ):
            db.session.execute(statement)
    db.session.expire_all()
    assert db.session.get(AuditEvent, event.id).reason == "test data"  # untouched


def test_a_row_removed_by_a_delete_orphan_cascade_is_recorded(make_incident, make_equipment):
    incident = make_incident()
    item = make_equipment(site=incident.site)
    with acting(incident.created_by):
        incident.equipment_links.append(IncidentEquipment(equipment=item))
        db.session.flush()
        link_id = incident.equipment_links[0].id
        incident.equipment_links.clear()  # only the cascade deletes the row
        db.session.flush()

    deleted = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.object_type == "IncidentEquipment",
            AuditEvent.object_id == link_id,
            AuditEvent.action == "delete",
        )
    ).one()
    assert deleted.actor_id == incident.created_by_id
    assert verify_trail().intact


def test_the_latest_events_name_who_acted_even_when_nobody_was_loaded(app, make_user):
    admin = make_user(Role.ADMIN, name="Ada Admin")
    with acting(admin, reason="new key account"):
        customer = Customer(name="Northwind")
        db.session.add(customer)
        db.session.flush()
    for name in ("Northwind Pharma", "Northwind Pharma AG"):
        customer.name = name
        db.session.flush()  # outside `acting`: the system's doing
    db.session.commit()
    customer_id = customer.id
    db.session.expunge_all()

    latest = latest_events_about(db.session.get(Customer, customer_id), newest=2)

    assert [(e.action, e.changes["name"][1]) for e in latest] == [
        ("update", "Northwind Pharma"),
        ("update", "Northwind Pharma AG"),
    ]
    assert [e.actor for e in latest] == [None, None]
    first = latest_events_about(db.session.get(Customer, customer_id), newest=3)[0]
    assert (first.action, first.actor.name, first.reason) == (
        "create",
        "Ada Admin",
        "new key account",
    )


def test_events_about_some_rows_of_a_kind_are_theirs_each_once_whatever_their_number(
    app, make_user, count_queries
):
    admin = make_user(Role.ADMIN)
    with acting(admin):
        customers = [Customer(name=f"Customer {n}") for n in range(6)]
        db.session.add_all(customers)
        db.session.flush()
        for customer in customers:
            customer.name += " Ltd"
            db.session.flush()
    wanted = [customers[0], customers[2], customers[3]]  # three: the statement takes four

    def about(events) -> list[tuple[int, str]]:
        return sorted((e.object_id, e.action) for e in events)

    expected = sorted((c.id, action) for c in wanted for action in ("create", "update"))
    assert about(events_about(*wanted)) == expected
    with count_queries() as three:
        assert about(latest_events_about(*wanted, newest=100)) == expected
    with count_queries() as four:
        latest_events_about(*wanted, customers[5], newest=100)
    with count_queries() as five:
        latest_events_about(*wanted, customers[4], customers[5], newest=100)
    # Three ids and four run the same statement; five take the next size up.
    assert three == four != five
