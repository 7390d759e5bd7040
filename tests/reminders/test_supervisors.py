"""Supervisors and admins get one e-mail with the part orders late against their
expected delivery and the proposals sent but unanswered after FIELDSVC_UNANSWERED_DAYS,
of the incidents they may see: a supervisor their team's, an admin everyone's."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fieldsvc.database import utcnow
from fieldsvc.extensions import db
from fieldsvc.parts.models import PartOrderStatus
from fieldsvc.parts.services import OrderDetails, change_part_order_status, update_part_order
from fieldsvc.reminders.services import send_reminders
from tests.proposals.broken_transmitters import TODAY, build_broken_transmitters, send
from tests.reminders.conftest import BASE_URL


def _by_recipient(smtp_server) -> dict[str, tuple[str, str]]:
    return {m["To"]: (m["Subject"], m.get_content()) for m in smtp_server.messages}


def test_supervisors_hear_of_their_teams_late_orders_and_unanswered_proposals_only(
    smtp_server,
):
    ours = build_broken_transmitters()
    send(ours)  # the customer has the offer; PO-7781 is expected tomorrow
    theirs = build_broken_transmitters(other="B ", with_proposal=False)
    theirs.order.po_number = "PO-9001"
    db.session.commit()
    revision = ours.revision
    smtp_server.messages.clear()  # the customer's copy of the offer, if it was delivered

    # Five days on: both orders are late, and the offer went unanswered for five days.
    send_reminders(utcnow() + timedelta(days=5))

    mail = _by_recipient(smtp_server)
    assert sorted(mail) == sorted(
        user.email for user in (ours.supervisor, ours.admin, theirs.supervisor, theirs.admin)
    )
    subject, body = mail[ours.supervisor.email]
    assert subject == "Reminder: 1 late part order, 1 unanswered proposal"
    incident = ours.incident
    assert (
        f"Part orders late against their expected delivery:\n"
        f"- {incident.reference} (Northwind Pharma): PO-7781 from Precision Instruments "
        f"Supply, expected {TODAY + timedelta(days=1)}, still ordered\n"
        f"  {BASE_URL}/incidents/{incident.id}\n"
    ) in body
    assert (
        f"Proposals sent but not answered after 3 days:\n"
        f"- {incident.reference} (Northwind Pharma): revision 1 sent "
        f"{_berlin(revision.sent_at)} to Dana Whitfield\n"
        f"  {BASE_URL}/proposals/{revision.proposal_id}\n"
    ) in body
    assert theirs.incident.reference not in body and "PO-9001" not in body

    subject, body = mail[theirs.supervisor.email]
    assert subject == "Reminder: 1 late part order"
    assert f"- {theirs.incident.reference} (B Northwind Pharma): PO-9001 from" in body
    assert incident.reference not in body and "PO-7781" not in body

    for admin in (ours.admin, theirs.admin):
        subject, body = mail[admin.email]
        assert subject == "Reminder: 2 late part orders, 1 unanswered proposal"
        assert "PO-7781" in body and "PO-9001" in body
    # Technicians own no follow-up here and are told nothing.
    assert ours.technician.email not in mail


def test_an_order_on_time_received_or_an_offer_younger_than_the_setting_is_not_reminded(
    app, smtp_server
):
    seed = build_broken_transmitters()
    send(seed)
    later = seed.order_more(status=PartOrderStatus.SHIPPED, expected_on=TODAY + timedelta(days=9))
    change_part_order_status(seed.order, PartOrderStatus.RECEIVED, actor=seed.technician)
    db.session.commit()
    smtp_server.messages.clear()

    # Two days on: the offer is two days old, the shipped order is due in a week.
    assert send_reminders(utcnow() + timedelta(days=2)) == []

    # With FIELDSVC_UNANSWERED_DAYS=1 the offer is overdue; ten days on, the order too.
    app.config["UNANSWERED_DAYS"] = 1
    send_reminders(utcnow() + timedelta(days=10))
    subject, body = _by_recipient(smtp_server)[seed.supervisor.email]
    assert subject == "Reminder: 1 late part order, 1 unanswered proposal"
    assert f"{later.po_number} from" in body and "still shipped" in body
    assert "PO-7781" not in body
    assert "not answered after 1 day:" in body


def test_a_new_expected_date_is_reminded_again(smtp_server):
    seed = build_broken_transmitters(with_proposal=False)
    send_reminders(utcnow() + timedelta(days=3))
    assert send_reminders(utcnow() + timedelta(days=3)) == []

    slipped = OrderDetails(
        seed.supplier.id, po_number="PO-7781", ordered_on=TODAY, expected_on=TODAY + timedelta(2)
    )
    update_part_order(seed.order, slipped, actor=seed.technician)  # the supplier's new date
    db.session.commit()
    reminders = send_reminders(utcnow() + timedelta(days=4))

    assert sorted(reminder.recipient for reminder in reminders) == sorted(
        [seed.supervisor.email, seed.admin.email]
    )
    assert all(reminder.item_count == 1 for reminder in reminders)
    assert len(smtp_server.messages) == 4


def _berlin(value: datetime) -> str:
    return value.astimezone(ZoneInfo("Europe/Berlin")).strftime("%Y-%m-%d %H:%M %Z")
