"""Deliver a webhook: claim it, sign it per Standard Webhooks, POST it to the address
that was checked, and record the attempt.

The claim is a conditional update committed before any HTTP traffic (fieldsvc.jobs.claims,
as for e-mails), so a job run twice, or by two workers at once, sends once, and no
database transaction is open while the receiver answers. A network error, a time-out, a
5xx or a 429 is tried again after a doubling wait, up to FIELDSVC_WEBHOOK_MAX_ATTEMPTS;
any other 4xx means the receiver will not take it, and it is given up at once. Redirects are not
followed: the address they name was never checked.
"""

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import urllib3
from flask import current_app
from standardwebhooks.webhooks import Webhook

from fieldsvc.database import utcnow, writing
from fieldsvc.extensions import db
from fieldsvc.jobs import claims
from fieldsvc.webhooks import addresses
from fieldsvc.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery

EXCERPT_BYTES = 300
MAX_ERROR_LENGTH = 500
USER_AGENT = "fieldsvc-webhooks/1"


@dataclass(frozen=True)
class Answer:
    """What one attempt came to: the status code (None: no answer) and a short text."""

    status_code: int | None
    text: str
    retry: bool

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class DeliveryFailed(Exception):
    """A delivery attempt failed and will be tried again (Huey's retry)."""


def deliver_later(delivery_id: int) -> None:
    """Hand a committed delivery to the job queue; if the queue cannot be reached the
    row stays pending and the periodic sweep sends it."""
    from fieldsvc.jobs.tasks import deliver_webhook

    try:
        deliver_webhook(delivery_id, **retry_options())
    except Exception:  # the queue's storage is down: the sweep finds the pending row
        current_app.logger.exception("webhook delivery %s not queued", delivery_id)


def retry_options() -> dict[str, Any]:
    """Huey's retries for one delivery: the same waits as `retry_wait`."""
    config = current_app.config
    return claims.retry_options(config["WEBHOOK_MAX_ATTEMPTS"], config["WEBHOOK_RETRY_SECONDS"])


def retry_wait(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: the first wait, doubled each time."""
    return claims.retry_wait(current_app.config["WEBHOOK_RETRY_SECONDS"], attempts)


def attempt_delivery(delivery: WebhookDelivery, *, due_only: bool) -> bool | None:
    """Claim the delivery, send it once and record the outcome: True if delivered, False
    if not, None when this call did not attempt it (another job has it, it is done, or
    with `due_only` its next attempt is not due yet). Commits."""
    with writing():
        if not claims.claim(delivery, due_only=due_only):
            return None
        endpoint, event = delivery.endpoint, delivery.event
        started = time.monotonic()
        if endpoint.enabled:
            answer = post(endpoint.url, endpoint.secret, event.message_id, event.body)
        else:  # switched off after the event: an admin may switch it on and replay
            answer = Answer(None, "not sent: the endpoint is switched off", retry=False)
        duration_ms = round((time.monotonic() - started) * 1000)
        _record(delivery, answer, duration_ms)
        return answer.delivered


def post(url: str, secret: str, message_id: str, body: str) -> Answer:
    """Check the URL's address again (it may resolve elsewhere now), sign, and POST."""
    try:
        target = addresses.check_url(url, addresses.AllowList.parse(_config("WEBHOOK_ALLOW")))
    except addresses.AddressRefused as refused:
        return Answer(None, f"refused: {refused}", retry=True)
    sent_at = utcnow()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Host": target.host if _default_port(target) else f"{target.host}:{target.port}",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, sent_at, body),
    }
    timeout = _config("WEBHOOK_TIMEOUT")
    try:
        with _pool(target, timeout) as pool:
            response = pool.urlopen(
                "POST",
                target.path,
                body=body.encode(),
                headers=headers,
                redirect=False,
                retries=False,
                preload_content=False,
                assert_same_host=False,
            )
            excerpt = response.read(EXCERPT_BYTES, decode_content=True)
            response.release_conn()
    except urllib3.exceptions.NewConnectionError as error:  # a TimeoutError to urllib3
        return Answer(None, _reason(error), retry=True)
    except urllib3.exceptions.TimeoutError:
        return Answer(None, f"no answer within {timeout:g} s", retry=True)
    except (urllib3.exceptions.HTTPError, OSError) as error:
        return Answer(None, _reason(error), retry=True)
    status = response.status
    text = f"{status} {' '.join(excerpt.decode('utf-8', 'replace').split())}".strip()
    if 300 <= status < 400:
        where = response.headers.get("Location", "elsewhere")
        text = f"{status} redirect to {where} (not followed: change the endpoint's URL)"
    return Answer(status, text[:MAX_ERROR_LENGTH], retry=status >= 500 or status == 429)


def _pool(target: addresses.Target, timeout: float) -> urllib3.HTTPConnectionPool:
    """A connection to the checked address that asks for the host by name: its TLS
    certificate is verified for the host name, as a browser would."""
    options = {"timeout": urllib3.Timeout(total=timeout), "retries": False, "maxsize": 1}
    if target.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            **options,
        )
    return urllib3.HTTPConnectionPool(target.address, target.port, **options)


def _default_port(target: addresses.Target) -> bool:
    return target.port == (443 if target.scheme == "https" else 80)


def _reason(error: Exception) -> str:
    """A short reason an admin can act on, e.g. "could not connect (Connection refused)"."""
    connecting = isinstance(error, urllib3.exceptions.NewConnectionError)
    if isinstance(error, urllib3.exceptions.ProtocolError) and isinstance(
        error.args[-1], Exception
    ):
        error = error.args[-1]  # ('Connection aborted.', ConnectionResetError(...))
    while isinstance(error, urllib3.exceptions.HTTPError) and error.__cause__ is not None:
        error = error.__cause__  # type: ignore[assignment]
    if isinstance(error, OSError) and error.strerror:
        text = error.strerror
    else:
        text = str(error) or type(error).__name__
    return f"could not connect ({text})" if connecting else text


def _config(key: str) -> Any:
    return current_app.config[key]


# --- the outbox row ------------------------------------------------------------------------


def _record(delivery: WebhookDelivery, answer: Answer, duration_ms: int) -> None:
    db.session.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            status_code=answer.status_code,
            outcome=answer.text[:MAX_ERROR_LENGTH],
            duration_ms=duration_ms,
        )
    )
    delivery.last_status_code = answer.status_code
    if answer.delivered:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = utcnow()
        delivery.last_error = None
    else:
        delivery.last_error = answer.text[:MAX_ERROR_LENGTH]
        if answer.retry and delivery.attempts < _config("WEBHOOK_MAX_ATTEMPTS"):
            delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = utcnow() + retry_wait(delivery.attempts)
        else:
            delivery.status = DeliveryStatus.GIVEN_UP
            delivery.next_attempt_at = None
        current_app.logger.warning(
            "webhook delivery %s to %s: %s", delivery.id, delivery.endpoint.url, answer.text
        )
    db.session.commit()


def due_for_sweep(now: datetime | None = None) -> list[int]:
    """Ids of deliveries whose job was lost: pending past the grace, failed past their next
    attempt, or claimed by a job that died mid-send (made due again). Commits."""
    return claims.due_for_sweep(
        WebhookDelivery,
        stopped="the delivery job stopped before the receiver answered",
        now=now or utcnow(),
    )
