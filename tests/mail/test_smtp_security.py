"""STARTTLS, implicit TLS and login are used when configured; against a server that
cannot do them the delivery fails with a reason that says what is missing."""

from fieldsvc.mail.models import EmailStatus
from fieldsvc.mail.services import deliver, queue_email


def _failed_reason(app, **settings) -> str:
    app.config.update(settings)
    email = queue_email("dana@example.com", "Proposal", "Body")
    assert deliver(email) is False
    assert email.status is EmailStatus.FAILED
    return email.last_error


def test_starttls_against_a_server_without_it_fails_clearly(app, smtp_server):
    reason = _failed_reason(app, SMTP_SECURITY="starttls")
    assert reason == f"{smtp_server.host}:{smtp_server.port} does not offer STARTTLS"
    assert smtp_server.messages == []


def test_login_against_a_server_without_auth_fails_clearly(app, smtp_server):
    reason = _failed_reason(app, SMTP_USERNAME="fieldsvc", SMTP_PASSWORD="secret")
    assert reason == f"{smtp_server.host}:{smtp_server.port} does not offer login (SMTP AUTH)"
    assert smtp_server.messages == []


def test_implicit_tls_against_a_plain_server_fails_clearly(app, smtp_server):
    reason = _failed_reason(app, SMTP_SECURITY="ssl")
    where = f"{smtp_server.host}:{smtp_server.port}"
    assert reason.startswith(f"could not connect to {where} (TLS failed: ")
    assert smtp_server.messages == []
