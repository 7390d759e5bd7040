"""Several app servers: one setting, FIELDSVC_REDIS_URL, puts the job queue and the rate
limits in one real Redis (Debian's redis-server, started by the tests), so a limit
counts across servers and a job queued on one is run by a worker elsewhere."""

import pytest
from huey import RedisHuey

from fieldsvc import create_app
from fieldsvc.config import from_environment
from fieldsvc.extensions import db, limiter
from fieldsvc.jobs.queue import huey
from fieldsvc.mail.models import EmailStatus, OutgoingEmail
from fieldsvc.mail.services import deliver_later, queue_email
from tests.conftest import test_config as base_config


def _server(database_url: str, monkeypatch, redis_url: str, **overrides):
    """An app server configured from the environment's FIELDSVC_REDIS_URL alone."""
    monkeypatch.setenv("FIELDSVC_REDIS_URL", redis_url)
    config = base_config(database_url, WTF_CSRF_ENABLED=False, **overrides)
    for key in ("RATELIMIT_STORAGE_URI", "JOBS_REDIS_URL", "JOBS_IMMEDIATE"):
        config.pop(key)
    return create_app(config)


@pytest.fixture
def restore_queue(app):
    yield
    from fieldsvc.jobs import queue

    queue.init_app(app)  # the suite's inline queue and memory limits again
    limiter.init_app(app)


def test_one_setting_puts_the_queue_and_the_limits_in_redis(monkeypatch, tmp_path):
    monkeypatch.setenv("FIELDSVC_REDIS_URL", "redis://cache.internal:6379/0")
    config = from_environment(str(tmp_path))
    assert config["RATELIMIT_STORAGE_URI"] == "redis://cache.internal:6379/0"
    assert config["JOBS_REDIS_URL"] == "redis://cache.internal:6379/0"

    monkeypatch.setenv("FIELDSVC_RATELIMIT_STORAGE_URI", "redis://limits.internal:6379/1")
    assert from_environment(str(tmp_path))["RATELIMIT_STORAGE_URI"] == (
        "redis://limits.internal:6379/1"
    )
    monkeypatch.delenv("FIELDSVC_REDIS_URL")
    monkeypatch.delenv("FIELDSVC_RATELIMIT_STORAGE_URI")
    config = from_environment(str(tmp_path))
    assert (config["RATELIMIT_STORAGE_URI"], config["JOBS_REDIS_URL"]) == ("memory://", "")
    assert config["JOBS_FILE"] == str(tmp_path / "jobs.sqlite3")


def test_failed_sign_ins_on_two_app_servers_count_against_one_limit(
    app, database_url, redis_url, monkeypatch, restore_queue
):
    first = _server(database_url, monkeypatch, redis_url).test_client()
    limiter.reset()  # the session's Redis: start from no failed sign-ins
    wrong = {"email": "mallory@example.com", "password": "guess"}
    for _ in range(3):
        assert first.post("/login", data=wrong).status_code == 401

    # A second server, with its own limiter storage object, on the same Redis.
    second = _server(database_url, monkeypatch, redis_url).test_client()
    for _ in range(2):
        assert second.post("/login", data=wrong).status_code == 401

    assert second.post("/login", data=wrong).status_code == 429  # the 6th of "5 per minute"


def test_an_e_mail_queued_on_one_server_is_delivered_by_a_worker_on_another(
    app, database_url, redis_url, monkeypatch, smtp_server, restore_queue
):
    web = _server(database_url, monkeypatch, redis_url)
    with web.app_context():
        web.config.update(MAIL_FROM=app.config["MAIL_FROM"])
        email = queue_email("dana@example.com", "Proposal", "Body")
        deliver_later(email)
        email_id, message_id = email.id, email.message_id
    in_redis = RedisHuey("fieldsvc", url=redis_url)
    assert in_redis.pending_count() == 1
    assert smtp_server.messages == []

    worker = _server(
        database_url,
        monkeypatch,
        redis_url,
        SMTP_HOST=smtp_server.host,
        SMTP_PORT=smtp_server.port,
    )
    with worker.app_context():
        task = huey.dequeue()
        huey.execute(task)

    assert in_redis.pending_count() == 0
    [message] = smtp_server.messages
    assert message["Message-ID"] == message_id
    assert db.session.get(OutgoingEmail, email_id).status is EmailStatus.SENT
