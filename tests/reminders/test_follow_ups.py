"""Each owner gets one e-mail with their follow-ups that are overdue or due within the
hour (a promise kept on time), and nothing about later or kept promises."""

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from fieldsvc.auth.models import Role
from fieldsvc.extensions import db
from fieldsvc.incidents.models import FollowUpOutcome
from fieldsvc.incidents.services import close_follow_up
from fieldsvc.parts.models import PartOrderStatus
from fieldsvc.parts.services import (
    OrderDetails,
    OrderLineInput,
    change_part_order_status,
    order_parts,
)
from fieldsvc.reminders.models import ReminderSent
from fieldsvc.reminders.services import collect_reminders, render_reminder, send_reminders
from tests.reminders.conftest import BASE_URL, NOW


def test_an_owner_gets_overdue_and_soon_due_follow_ups_in_one_email(
    smtp_server, make_owner, make_incident, promise
):
    owner = make_owner(name="Tom Technician", email="tom@example.com")
    incident = make_incident(actor=owner, now=NOW - timedelta(days=1))
    overdue = promise(incident, owner, NOW - timedelta(minutes=30), "Call Dana back with the date")
    soon = promise(incident, owner, NOW + timedelta(minutes=20), "Send Dana the rig photos")
    promise(incident, owner, NOW + timedelta(hours=3), "Confirm the return visit")
    kept = promise(incident, owner, NOW - timedelta(hours=2), "Apologise for the delay")
    close_follow_up(
        kept, actor=owner, outcome=FollowUpOutcome.DONE, note="Called", now=NOW - timedelta(hours=1)
    )
    db.session.commit()

    sent = send_reminders(NOW)

    assert [(reminder.recipient, reminder.item_count, reminder.delivered) for reminder in sent] == [
        ("tom@example.com", 2, True)
    ]
    [message] = smtp_server.messages
    assert message["To"] == "tom@example.com"
    assert message["Subject"] == "Reminder: 1 overdue follow-up, 1 follow-up due within the hour"
    customer = incident.customer.name
    link = f"{BASE_URL}/incidents/{incident.id}"
    assert message.get_content() == (
        "Hello Tom Technician,\n"
        "\n"
        "Overdue follow-ups: the customer is waiting to hear from you.\n"
        f"- {incident.reference} ({customer}), due 2026-11-23 09:30 CET:\n"
        "  Call Dana back with the date\n"
        f"  {link}\n"
        "\n"
        "Follow-ups due within the hour:\n"
        f"- {incident.reference} ({customer}), due 2026-11-23 10:20 CET:\n"
        "  Send Dana the rig photos\n"
        f"  {link}\n"
        "\n"
        "You are reminded of each of these once; a new due or expected date reminds you again.\n"
        "\n"
        "fieldsvc\n"
    )
    keys = db.session.scalars(select(ReminderSent.key).order_by(ReminderSent.key)).all()
    assert keys == [
        f"follow_up:{overdue.id}:due:2026-11-23T08:30:00Z",
        f"follow_up:{soon.id}:due:2026-11-23T09:20:00Z",
    ]


def test_each_owner_hears_only_of_their_own_follow_ups(
    smtp_server, make_owner, make_incident, promise
):
    tom, ann = make_owner(email="tom@example.com"), make_owner(email="ann@example.com")
    toms = make_incident(actor=tom, now=NOW - timedelta(days=1))
    anns = make_incident(actor=ann, now=NOW - timedelta(days=1))
    promise(toms, tom, NOW - timedelta(minutes=5), "Tom's promise")
    promise(anns, ann, NOW - timedelta(minutes=5), "Ann's first promise")
    promise(anns, ann, NOW + timedelta(minutes=5), "Ann's second promise")
    db.session.commit()

    send_reminders(NOW)

    by_recipient = {message["To"]: message.get_content() for message in smtp_server.messages}
    assert sorted(by_recipient) == ["ann@example.com", "tom@example.com"]
    assert "Tom's promise" in by_recipient["tom@example.com"]
    assert "Ann's" not in by_recipient["tom@example.com"]
    assert "Ann's first promise" in by_recipient["ann@example.com"]
    assert "Ann's second promise" in by_recipient["ann@example.com"]
    assert "Tom's" not in by_recipient["ann@example.com"]


def test_an_inactive_owner_gets_no_reminder(smtp_server, make_owner, make_incident, promise):
    owner = make_owner()
    incident = make_incident(actor=owner, now=NOW - timedelta(days=1))
    promise(incident, owner, NOW - timedelta(minutes=5))
    owner.active = False
    db.session.commit()

    assert send_reminders(NOW) == []
    assert smtp_server.messages == []


def test_a_moved_due_date_is_reminded_again(smtp_server, make_owner, make_incident, promise):
    owner = make_owner()
    incident = make_incident(actor=owner, now=NOW - timedelta(days=1))
    follow_up = promise(incident, owner, NOW - timedelta(minutes=10), "Call Dana back")
    db.session.commit()
    send_reminders(NOW)
    assert send_reminders(NOW + timedelta(minutes=15)) == []

    follow_up.due_at = NOW + timedelta(minutes=45)  # the customer agreed to a later call
    db.session.commit()
    [reminder] = send_reminders(NOW + timedelta(minutes=15))

    assert reminder.item_count == 1
    first, second = smtp_server.messages
    assert first["Subject"] == "Reminder: 1 overdue follow-up"
    assert second["Subject"] == "Reminder: 1 follow-up due within the hour"
    assert "due 2026-11-23 10:45 CET:\n  Call Dana back\n" in second.get_content()
    assert db.session.scalars(select(ReminderSent.key).order_by(ReminderSent.id)).all() == [
        f"follow_up:{follow_up.id}:due:2026-11-23T08:50:00Z",
        f"follow_up:{follow_up.id}:due:2026-11-23T09:45:00Z",
    ]


def test_building_the_reminders_takes_the_same_queries_for_2_or_20_follow_ups(
    app, make_owner, make_user, make_incident, make_supplier, promise, count_queries
):
    """Each follow-up on its own incident of its own team, with a late part order there
    and a supervisor in the team: any lazy load per item would show."""
    made = 0

    def queries_for(total: int) -> int:
        nonlocal made
        for _ in range(total - made):
            owner = make_owner()
            make_user(Role.SUPERVISOR, team=owner.team)
            incident = make_incident(actor=owner, now=NOW - timedelta(days=1))
            promise(incident, owner, NOW - timedelta(minutes=5), "Call back")
            order = order_parts(
                incident,
                OrderDetails(
                    make_supplier().id,
                    po_number="PO-1",
                    ordered_on=date(2026, 11, 16),
                    expected_on=date(2026, 11, 20),
                ),
                [OrderLineInput("Transmitter", Decimal("1"), Decimal("300.00"))],
                actor=owner,
            )
            change_part_order_status(order, PartOrderStatus.ORDERED, actor=owner)
        made = total
        db.session.commit()
        db.session.expunge_all()  # nothing already loaded may hide a lazy load
        with count_queries() as statements:
            rendered = [render_reminder(digest) for digest in collect_reminders(NOW)]
        assert len(rendered) == 2 * total  # the owner's and the supervisor's
        return len(statements)

    assert queries_for(2) == queries_for(20)
