"""`flask --app fieldsvc reminders send` from cron: what it prints, that a second run
sends nothing new, and that a refused delivery waits in the outbox, queued once."""

from datetime import timedelta

from sqlalchemy import func, select

from fieldsvc.extensions import db
from fieldsvc.mail.models import EmailStatus, OutgoingEmail
from fieldsvc.reminders import services
from fieldsvc.reminders.models import ReminderSent
from tests.reminders.conftest import BASE_URL, NOW


def _count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def _two_follow_ups_due(make_owner, make_incident, promise, email: str, name: str = "Tom") -> int:
    owner = make_owner(email=email, name=name)
    incident = make_incident(actor=owner, now=NOW - timedelta(days=1))
    promise(incident, owner, NOW - timedelta(minutes=30), "Call Dana back")
    promise(incident, owner, NOW + timedelta(minutes=30), "Send Dana the photos")
    db.session.commit()
    return incident.id


def test_a_second_run_sends_nothing_new(
    app, runner, smtp_server, make_owner, make_incident, promise
):
    # As from cron: no request, no SERVER_NAME; links still use FIELDSVC_BASE_URL.
    app.config["SERVER_NAME"] = None
    incident_id = _two_follow_ups_due(make_owner, make_incident, promise, "tom@example.com")

    first = runner.invoke(args=["reminders", "send", "--now", "2026-11-23T10:00"])  # Berlin

    assert first.exit_code == 0, first.output
    subject = "Reminder: 1 overdue follow-up, 1 follow-up due within the hour"
    assert first.output == (
        f"sent “{subject}” to tom@example.com (2 items)\n1 reminder e-mail with 2 items, 0 failed\n"
    )
    [message] = smtp_server.messages
    assert message["Subject"] == subject
    assert f"  {BASE_URL}/incidents/{incident_id}\n" in message.get_content()

    second = runner.invoke(args=["reminders", "send", "--now", "2026-11-23T10:10"])

    assert second.exit_code == 0, second.output
    assert second.output == "0 reminder e-mails with 0 items, 0 failed\n"
    assert len(smtp_server.messages) == 1
    assert _count(OutgoingEmail) == 1
    assert _count(ReminderSent) == 2


def test_a_refused_delivery_stays_in_the_outbox_and_is_not_queued_again(
    runner, smtp_server, make_owner, make_incident, promise
):
    _two_follow_ups_due(make_owner, make_incident, promise, "tom@example.com")
    smtp_server.refuse("tom@example.com")

    first = runner.invoke(args=["reminders", "send", "--now", NOW.isoformat()])

    assert first.exit_code == 1
    subject = "Reminder: 1 overdue follow-up, 1 follow-up due within the hour"
    assert first.stderr == (
        f"failed “{subject}” to tom@example.com (2 items): 550 mailbox unavailable; "
        "left in the outbox for `mail retry`\n"
    )
    assert first.stdout == "1 reminder e-mail with 2 items, 1 failed\n"
    db.session.expire_all()
    [email] = db.session.scalars(select(OutgoingEmail)).all()
    assert email.status is EmailStatus.FAILED
    assert smtp_server.messages == []

    second = runner.invoke(args=["reminders", "send", "--now", NOW.isoformat()])

    assert second.exit_code == 0, second.output
    assert second.output == "0 reminder e-mails with 0 items, 0 failed\n"
    assert _count(OutgoingEmail) == 1

    smtp_server.accept("tom@example.com")
    assert runner.invoke(args=["mail", "retry"]).exit_code == 0
    [message] = smtp_server.messages
    assert message["Subject"] == subject


def test_one_line_per_email_and_a_summary(runner, smtp_server, make_owner, make_incident, promise):
    owner = make_owner(email="tom@example.com", name="Tom")
    incident = make_incident(actor=owner, now=NOW - timedelta(days=1))
    promise(incident, owner, NOW - timedelta(minutes=1), "Call back")
    _two_follow_ups_due(make_owner, make_incident, promise, "ann@example.com", name="Ann")

    result = runner.invoke(args=["reminders", "send", "--now", NOW.isoformat()])

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [  # by name
        "sent “Reminder: 1 overdue follow-up, 1 follow-up due within the hour” "
        "to ann@example.com (2 items)",
        "sent “Reminder: 1 overdue follow-up” to tom@example.com (1 item)",
        "2 reminder e-mails with 3 items, 0 failed",
    ]
    assert len(smtp_server.messages) == 2


def test_a_now_that_is_not_a_date_is_refused(runner):
    result = runner.invoke(args=["reminders", "send", "--now", "tomorrow"])

    assert result.exit_code == 2
    assert "not an ISO date and time: 'tomorrow'" in result.output


def test_a_person_reminded_by_a_run_at_the_same_time_is_not_emailed_again(
    monkeypatch, smtp_server, make_owner, make_incident, promise
):
    tom, ann = make_owner(email="tom@example.com"), make_owner(email="ann@example.com")
    toms = promise(make_incident(actor=tom, now=NOW - timedelta(days=1)), tom, NOW, "Call")
    promise(make_incident(actor=ann, now=NOW - timedelta(days=1)), ann, NOW, "Call")
    db.session.commit()
    collect = services.collect_reminders

    def collect_then_lose_the_race(now):
        digests = collect(now)
        # Another run records Tom's reminder after this one looked, before it writes.
        db.session.add(ReminderSent(recipient_id=tom.id, key=services.reminder_key(toms)))
        db.session.commit()
        return digests

    monkeypatch.setattr(services, "collect_reminders", collect_then_lose_the_race)

    sent = services.send_reminders(NOW + timedelta(minutes=1))

    assert [reminder.recipient for reminder in sent] == ["ann@example.com"]
    assert [message["To"] for message in smtp_server.messages] == ["ann@example.com"]
    assert _count(OutgoingEmail) == 1
