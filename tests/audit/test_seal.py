"""The sealed trail: an insider without the audit key can neither append nor rewrite
events unnoticed; keys rotate without losing older events' proof."""

from datetime import UTC, datetime

from sqlalchemy import insert

from fieldsvc.audit.models import AuditEvent
from fieldsvc.audit.sealing import chain_head, seal_rows
from fieldsvc.extensions import db
from tests.audit.conftest import hmac_sha256, plain_sha256, row_of
from tests.conftest import AUDIT_TEST_KEYS

TEST_SECRET = AUDIT_TEST_KEYS.partition(":")[2].encode()
OTHER_SECRET = "0ther" * 8


def verify(runner, *args):
    return runner.invoke(args=["audit", "verify", *args])


def test_every_event_carries_the_key_id_and_an_hmac_of_its_content(trail):
    for event in trail:
        row = row_of(event)
        assert event.key_id == "test-1"
        assert event.hash == hmac_sha256(row, TEST_SECRET)
        assert event.hash != plain_sha256(row)


def test_an_intact_sealed_trail_verifies_and_says_which_key_sealed_it(runner, trail):
    result = verify(runner)
    assert result.exit_code == 0, result.output
    assert "audit trail intact: 5 events checked" in result.output
    assert "5 with key 'test-1'" in result.output


def test_an_event_appended_with_a_recomputed_plain_hash_is_detected_and_named(
    runner, trail, insider
):
    forged = insider.append()
    result = verify(runner)
    assert result.exit_code == 1
    assert f"audit event #{forged['seq']}" in result.output
    assert "plain SHA-256 hash where its MAC belongs" in result.output
    assert "without the key" in result.output


def test_an_event_appended_under_the_key_id_without_the_secret_is_detected(runner, trail, insider):
    forged = insider.append(key_id="test-1")
    guessed = insider.append(key_id="test-1", secret=b"guessed")
    result = verify(runner)
    assert result.exit_code == 1
    assert f"audit event #{forged['seq']}" in result.output
    assert "plain SHA-256 hash where its MAC belongs" in result.output
    assert f"audit event #{guessed['seq']}" in result.output
    assert "does not match its MAC under key 'test-1'" in result.output


def test_a_rewritten_tail_with_recomputed_hashes_is_detected_at_the_edited_event(
    runner, trail, insider
):
    victim = trail[2]
    insider.rewrite(victim.seq, changes={"name": [None, "Someone else"]})
    result = verify(runner)
    assert result.exit_code == 1
    assert f"audit event #{victim.seq} (id {victim.id})" in result.output
    assert "plain SHA-256 hash where its MAC belongs" in result.output
    assert f"audit event #{trail[1].seq} " not in result.output  # the events before stand


def test_a_tail_rewritten_with_the_insiders_own_key_is_detected(runner, trail, insider):
    victim = trail[3]
    insider.rewrite(victim.seq, secret=b"insider's own key", reason="tidied up")
    result = verify(runner)
    assert result.exit_code == 1
    assert f"audit event #{victim.seq} (id {victim.id})" in result.output
    assert "does not match its MAC" in result.output
    assert "altered" in result.output


def test_a_trail_checked_with_the_wrong_secret_names_the_key_first(
    app, runner, make_customer, trail
):
    for n in range(30):  # more bad events than the command lists
        make_customer(name=f"More {n}")
    db.session.commit()
    app.config["AUDIT_KEYS"] = f"test-1:{OTHER_SECRET}"
    result = verify(runner)
    assert result.exit_code == 1
    assert "audit trail BROKEN: 36 problems" in result.output
    first = result.output.splitlines()[1]
    assert "none of the 35 events sealed with key 'test-1' matches its MAC" in first
    assert "the secret configured for 'test-1' is not the one that sealed them" in first
    assert "… and 16 more" in result.output


def test_events_sealed_with_a_key_that_is_not_configured_are_named(app, runner, trail, insider):
    forged = insider.append(key_id="attacker", secret=b"attacker's key")
    result = verify(runner)
    assert result.exit_code == 1
    assert f"audit event #{forged['seq']}" in result.output
    assert "sealed with key 'attacker', which is not configured" in result.output


def test_after_a_key_rotation_old_events_still_verify_under_the_old_key(
    app, runner, make_customer, trail
):
    app.config["AUDIT_KEYS"] = f"test-2:{OTHER_SECRET}, {AUDIT_TEST_KEYS}"
    make_customer(name="After rotation")
    db.session.commit()

    newest = db.session.scalars(
        db.select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)
    ).one()
    assert newest.key_id == "test-2"
    result = verify(runner)
    assert result.exit_code == 0, result.output
    assert "1 with key 'test-2'" in result.output
    assert "5 with key 'test-1'" in result.output

    app.config["AUDIT_KEYS"] = f"test-2:{OTHER_SECRET}"  # the old key dropped too soon
    result = verify(runner)
    assert result.exit_code == 1
    assert "sealed with key 'test-1', which is not configured" in result.output


def test_rows_a_bulk_loader_seals_with_seal_rows_verify_like_the_apps_own(runner, trail):
    seq, prev_hash = chain_head(db.session.connection())
    rows = seal_rows(
        (
            {
                "at": datetime(2026, 1, 1, 8, n, tzinfo=UTC),
                "actor_id": None,
                "action": "create",
                "object_type": "Incident",
                "object_id": n,
                "changes": {"status": [None, "open"]},
                "reason": None,
            }
            for n in range(1, 51)
        ),
        seq=seq,
        prev_hash=prev_hash,
    )
    db.session.execute(insert(AuditEvent), rows)
    db.session.expire_all()
    result = verify(runner)
    assert result.exit_code == 0, result.output
    assert "audit trail intact: 55 events checked" in result.output
