"""A trail written before sealing (plain SHA-256, no key id) moves over explicitly:
`audit reseal --from-plain` verifies it, then one sealed event vouches for it."""

from datetime import UTC, datetime, timedelta

import flask_migrate
import pytest
import sqlalchemy as sa
from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError

from fieldsvc import create_app
from fieldsvc.audit.models import AuditEvent
from fieldsvc.database import UTCDateTime
from fieldsvc.extensions import db
from tests import conftest
from tests.audit.conftest import plain_sha256

RESEAL = ["audit", "reseal", "--from-plain"]


def verify(runner, *args):
    return runner.invoke(args=["audit", "verify", *args])


@pytest.fixture
def old_trail(app, insider) -> list[dict]:
    """Three committed events as the app wrote them before sealing: plain SHA-256, no
    key id."""
    rows = [
        insider.append(action="create", object_id=n, changes={"name": [None, f"Old {n}"]})
        for n in (1, 2, 3)
    ]
    db.session.commit()
    return rows


def test_a_trail_from_before_sealing_fails_verification_until_it_is_resealed(
    runner, make_customer, old_trail
):
    make_customer(name="Written after the upgrade")  # sealed, linked to the plain head
    db.session.commit()

    before = verify(runner)
    assert before.exit_code == 1
    assert "events #1 to #3 have the plain SHA-256 chain from before sealing" in before.output
    assert "flask --app fieldsvc audit reseal --from-plain" in before.output

    resealed = runner.invoke(args=RESEAL)
    assert resealed.exit_code == 0, resealed.output
    assert "sealed: events #1 to #3 verified and vouched for by event #5 (key 'test-1')" in (
        resealed.output
    )
    seal = db.session.scalars(select(AuditEvent).where(AuditEvent.seq == 5)).one()
    assert seal.action == "chain_sealed"
    assert seal.changes == {
        "plain_events": 3,
        "plain_head_seq": 3,
        "plain_head_hash": old_trail[-1]["hash"],
    }
    assert "verified and sealed" in seal.reason

    after = verify(runner)
    assert after.exit_code == 0, after.output
    assert "3 plain events from before sealing, vouched for by event #5" in after.output


def test_reseal_refuses_an_altered_plain_chain_and_seals_nothing(runner, old_trail, insider):
    insider.lift_triggers()
    db.session.execute(
        update(AuditEvent).where(AuditEvent.seq == 2).values(changes={"name": [None, "Forged"]})
    )
    db.session.expire_all()

    result = runner.invoke(args=RESEAL)
    assert result.exit_code == 1
    assert "not sealed: the trail has problems; nothing was sealed" in result.output
    assert "audit event #2" in result.output
    assert "its content does not match its hash (altered)" in result.output
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 3


def test_plain_events_rewritten_after_resealing_are_detected(runner, old_trail, insider):
    assert runner.invoke(args=RESEAL).exit_code == 0
    insider.lift_triggers()
    insider.rewrite(2, until=3, changes={"name": [None, "Forged"]})  # hashes recomputed

    result = verify(runner)
    assert result.exit_code == 1
    assert "audit event #4" in result.output
    assert "does not link to the event before it" in result.output
    assert "vouches for plain events up to #3, but the plain events now end at #3" in (
        result.output
    )


def test_reseal_refuses_a_trail_cut_back_to_its_plain_events_when_anchors_show_it(
    runner, make_customer, old_trail, insider, tmp_path
):
    assert runner.invoke(args=RESEAL).exit_code == 0
    make_customer(name="Sealed")
    db.session.commit()
    anchors = tmp_path / "anchors.jsonl"
    assert runner.invoke(args=["audit", "anchor", "--file", str(anchors)]).exit_code == 0
    insider.lift_triggers()
    insider.delete_from(4)  # every sealed event gone: what is left looks like an old trail
    db.session.commit()

    result = runner.invoke(args=[*RESEAL, "--anchors", str(anchors)])
    assert result.exit_code == 1
    assert "not sealed: the trail has problems; nothing was sealed" in result.output
    assert "the trail ends at event #3" in result.output
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 3


def test_a_trail_sealed_throughout_has_nothing_to_reseal(runner, trail):
    result = runner.invoke(args=RESEAL)
    assert result.exit_code == 1
    assert "there are no plain events" in result.output


def test_resealing_twice_is_refused(runner, old_trail):
    assert runner.invoke(args=RESEAL).exit_code == 0
    result = runner.invoke(args=RESEAL)
    assert result.exit_code == 1
    assert "already vouched for by event #4" in result.output


def test_reseal_needs_the_from_plain_flag(runner, old_trail):
    assert runner.invoke(args=["audit", "reseal"]).exit_code == 2


def test_upgrading_a_database_with_a_plain_trail_changes_no_row_and_keeps_the_triggers(
    fresh_database_url,
):
    app = create_app(conftest.test_config(fresh_database_url))
    runner = app.test_cli_runner()
    with app.app_context():
        try:
            flask_migrate.upgrade(revision="0005_supervisors")
            old_events = _write_plain_events(3)
            flask_migrate.upgrade()

            stored = db.session.execute(
                select(AuditEvent.seq, AuditEvent.hash, AuditEvent.key_id).order_by(AuditEvent.seq)
            ).all()
            assert stored == [(e["seq"], e["hash"], None) for e in old_events]
            assert "reseal --from-plain" in verify(runner).output
            assert runner.invoke(args=RESEAL).exit_code == 0
            assert verify(runner).exit_code == 0

            _assert_append_only()
            flask_migrate.downgrade(revision="0005_supervisors")
            _assert_append_only()
        finally:
            db.session.remove()
            db.engine.dispose()


def _write_plain_events(count: int) -> list[dict]:
    """Events as the code before sealing wrote them, into the table as it was then."""
    table = sa.table(
        "audit_events",
        *(sa.column(name) for name in ("seq", "actor_id", "action", "object_type")),
        *(sa.column(name) for name in ("object_id", "reason", "prev_hash", "hash")),
        sa.column("at", UTCDateTime()),
        sa.column("changes", sa.JSON()),
    )
    rows, prev_hash = [], "0" * 64
    start = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    for seq in range(1, count + 1):
        row = {
            "seq": seq,
            "at": start + timedelta(minutes=seq, microseconds=seq),
            "actor_id": None,
            "action": "create",
            "object_type": "Customer",
            "object_id": seq,
            "changes": {"name": [None, f"Customer {seq}"]},
            "reason": "before sealing",
            "prev_hash": prev_hash,
        }
        row["hash"] = prev_hash = plain_sha256(row)
        rows.append(row)
    db.session.execute(sa.insert(table), rows)
    db.session.commit()
    return rows


def _assert_append_only() -> None:
    for statement in (
        sa.text("UPDATE audit_events SET reason = 'rewritten' WHERE seq = 1"),
        sa.text("DELETE FROM audit_events WHERE seq = 1"),
    ):
        with pytest.raises(DBAPIError, match="audit_events is append-only"):
            db.session.execute(statement)
        db.session.rollback()
