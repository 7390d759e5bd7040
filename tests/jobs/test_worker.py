"""`flask --app fieldsvc jobs worker`, the process `make run` starts beside the web
server: it delivers what a request queued in the SQLite queue file, and stops on SIGTERM."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fieldsvc.extensions import db
from fieldsvc.jobs import queue
from fieldsvc.mail.models import EmailStatus, OutgoingEmail
from fieldsvc.mail.services import deliver_later, queue_email
from tests.conftest import AUDIT_TEST_KEYS
from tests.smtp import SmtpServer


def test_the_worker_process_delivers_a_queued_e_mail_and_stops_on_sigterm(
    database_url, committed_app, tmp_path
):
    if not database_url.startswith("sqlite"):
        pytest.skip("the worker process is run once, on the embedded default it serves")
    smtp = SmtpServer()
    smtp.start()
    jobs_file = tmp_path / "jobs.sqlite3"
    committed_app.config.update(JOBS_IMMEDIATE=False, JOBS_FILE=str(jobs_file))
    queue.init_app(committed_app)
    with committed_app.app_context():
        email = queue_email("dana@example.com", "Proposal", "Body")
        deliver_later(email)
        email_id = email.id
    environment = {
        **os.environ,
        "FIELDSVC_DATABASE_URL": committed_app.config["SQLALCHEMY_DATABASE_URI"],
        "FIELDSVC_JOBS_FILE": str(jobs_file),
        "FIELDSVC_SMTP_HOST": smtp.host,
        "FIELDSVC_SMTP_PORT": str(smtp.port),
        "FIELDSVC_AUDIT_KEYS": AUDIT_TEST_KEYS,
    }
    environment.pop("FIELDSVC_REDIS_URL", None)
    flask = Path(sys.executable).with_name("flask")
    worker = subprocess.Popen(
        [str(flask), "--app", "fieldsvc", "jobs", "worker", "--workers", "1"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for _ in range(600):  # up to a minute on a busy machine; it takes well under one s
            if smtp.messages or worker.poll() is not None:
                break
            time.sleep(0.1)
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
        smtp.stop()
        committed_app.config.update(JOBS_IMMEDIATE=True)
        queue.init_app(committed_app)

    assert f"jobs from the SQLite file {jobs_file}" in output
    [message] = smtp.messages
    assert message["Subject"] == "Proposal"
    with committed_app.app_context():
        assert db.session.get(OutgoingEmail, email_id).status is EmailStatus.SENT
    assert worker.returncode == 0, output
