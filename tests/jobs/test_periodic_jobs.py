"""Reminders, proposal expiry and audit anchoring are scheduled by the job queue's
scheduler (the cron lines remain the alternative), and running one twice does its
work once."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from fieldsvc.audit.anchors import read_anchors
from fieldsvc.auth.models import Role
from fieldsvc.database import utcnow
from fieldsvc.extensions import db
from fieldsvc.incidents.services import promise_follow_up
from fieldsvc.jobs import tasks
from fieldsvc.jobs.queue import huey
from fieldsvc.mail.models import OutgoingEmail
from fieldsvc.proposals.models import RevisionStatus
from tests.proposals.broken_transmitters import build_broken_transmitters, send


def _scheduled_at(hour: int, minute: int) -> set[str]:
    moment = datetime(2026, 11, 23, hour, minute)  # Huey's clock: UTC
    return {task.name for task in huey.read_periodic(moment)}


def test_the_scheduler_runs_each_job_at_its_time():
    sweeps = {"sweep_outbox", "sweep_webhooks"}  # every minute
    assert _scheduled_at(10, 15) == sweeps | {"send_reminders"}
    assert _scheduled_at(10, 5) == sweeps | {"expire_proposals"}
    assert _scheduled_at(2, 15) == sweeps | {"send_reminders", "anchor_audit_trail"}
    assert _scheduled_at(10, 7) == sweeps


def test_the_reminder_job_run_twice_reminds_once(
    app, smtp_server, make_user, make_team, make_incident
):
    owner = make_user(Role.TECHNICIAN, team=make_team(), email="tom@example.com")
    incident = make_incident(actor=owner, now=utcnow() - timedelta(days=1))
    promise_follow_up(
        incident,
        actor=owner,
        owner_id=owner.id,
        due_at=utcnow() - timedelta(minutes=30),
        promise="Call Dana back",
        now=utcnow() - timedelta(days=1),
    )
    db.session.commit()

    tasks.send_reminders.call_local()
    tasks.send_reminders.call_local()

    [message] = smtp_server.messages
    assert message["To"] == "tom@example.com"
    assert message["Subject"] == "Reminder: 1 overdue follow-up"
    assert db.session.scalar(select(func.count()).select_from(OutgoingEmail)) == 1


def test_the_expiry_job_run_twice_expires_an_offer_once(app, smtp_server):
    seed = build_broken_transmitters()
    send(seed)
    seed.revision.valid_until = (utcnow() - timedelta(days=2)).date()
    db.session.commit()

    tasks.expire_proposals.call_local()
    db.session.refresh(seed.revision)
    assert seed.revision.status is RevisionStatus.EXPIRED
    follow_ups = len(seed.incident.follow_ups)

    tasks.expire_proposals.call_local()

    db.session.refresh(seed.incident)
    assert seed.revision.status is RevisionStatus.EXPIRED
    assert len(seed.incident.follow_ups) == follow_ups  # no second follow-up for the parts


def test_the_anchor_job_run_twice_anchors_the_head_once_and_e_mails_it(
    app, smtp_server, tmp_path, make_user
):
    anchor_file = tmp_path / "anchors.jsonl"
    app.config.update(AUDIT_ANCHOR_FILE=str(anchor_file), AUDIT_ANCHOR_EMAIL="vault@example.com")
    make_user(Role.ADMIN)
    db.session.commit()

    tasks.anchor_audit_trail.call_local()
    tasks.anchor_audit_trail.call_local()

    [anchor] = read_anchors(anchor_file)
    assert datetime.fromisoformat(anchor.anchored_at) > datetime.now(UTC) - timedelta(minutes=1)
    [message] = smtp_server.messages
    assert message["To"] == "vault@example.com"
    assert f"event #{anchor.seq}" in message["Subject"]


def test_periodic_jobs_do_nothing_when_cron_runs_the_commands_instead(app, smtp_server, tmp_path):
    anchor_file = tmp_path / "anchors.jsonl"
    app.config.update(JOBS_PERIODIC=False, AUDIT_ANCHOR_FILE=str(anchor_file))

    tasks.anchor_audit_trail.call_local()

    assert not anchor_file.exists()
