"""The log a collector receives: one JSON line per request, tied to the response by its
request id, with nothing secret in it."""

import io
import json
import logging

import pytest

from fieldsvc.api.models import SCOPES
from fieldsvc.api.services import issue_token
from fieldsvc.extensions import db
from fieldsvc.ops import logs


def written_by_the_app(app, log_format: str) -> io.StringIO:
    """The app logging in `log_format` to a stream the test reads (stderr in production)."""
    app.config["LOG_FORMAT"] = log_format
    logs.init_app(app)
    stream = io.StringIO()
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logs.AppLogHandler):
            handler.setStream(stream)
    return stream


@pytest.fixture
def json_logs(app):
    """Returns a function that gives the JSON lines logged since it was last called."""
    stream = written_by_the_app(app, "json")

    def lines() -> list[dict]:
        text = stream.getvalue()
        stream.seek(0)
        stream.truncate()
        return [json.loads(line) for line in text.splitlines()]

    return lines


def test_a_request_logs_one_json_line_with_the_request_id_the_response_carries(
    client, json_logs, make_user
):
    user = make_user(password="tr0ub4dor&3-secret")
    token = client.csrf_token()
    json_logs()

    response = client.post("/login", data={"email": user.email, "password": "tr0ub4dor&3-secret"})

    (line,) = [line for line in json_logs() if line["logger"] == "fieldsvc.requests"]
    assert response.headers["X-Request-ID"] == line["request_id"]
    assert len(line["request_id"]) == 32
    assert line["method"] == "POST"
    assert line["endpoint"] == "auth.login"
    assert line["status"] == 302
    assert line["user_id"] == user.id
    assert line["duration_ms"] > 0
    assert line["level"] == "INFO"
    cookie = response.headers["Set-Cookie"].split(";")[0].partition("=")[2]
    text = json.dumps(line)
    for secret in ("tr0ub4dor&3-secret", token, cookie, user.email):
        assert secret not in text


def test_each_use_of_an_api_token_is_logged_with_the_tokens_id_and_never_its_secret(
    app, json_logs, make_user
):
    user = make_user()
    issued = issue_token(user, actor=user, name="ERP sync", scopes=SCOPES, days=30)
    db.session.commit()
    json_logs()

    response = app.test_client(use_cookies=False).get(
        "/api/v1/customers", headers={"Authorization": f"Bearer {issued.secret}"}
    )

    assert response.status_code == 200
    (line,) = [line for line in json_logs() if line["logger"] == "fieldsvc.requests"]
    assert line["api_token_id"] == issued.token.id
    assert line["user_id"] == user.id
    assert issued.secret not in json.dumps(line)


def test_a_sane_request_id_from_the_proxy_is_kept_and_a_malformed_one_replaced(client, json_logs):
    kept = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a9c2e-0001"})
    replaced = client.get("/healthz", headers={"X-Request-ID": 'evil" id\twith spaces'})
    too_long = client.get("/healthz", headers={"X-Request-ID": "a" * 200})

    assert kept.headers["X-Request-ID"] == "lb-7f3a9c2e-0001"
    for response in (replaced, too_long):
        assert len(response.headers["X-Request-ID"]) == 32
    logged = [line["request_id"] for line in json_logs() if line["logger"] == "fieldsvc.requests"]
    assert logged == [response.headers["X-Request-ID"] for response in (kept, replaced, too_long)]


def test_a_status_page_request_is_logged_by_route_without_its_token(client, json_logs):
    client.get("/status/secret-status-token-1234567890")

    (line,) = [line for line in json_logs() if line["logger"] == "fieldsvc.requests"]
    assert line["endpoint"] == "portal.status"
    assert "secret-status-token" not in json.dumps(line)


def test_an_unhandled_error_is_logged_with_its_traceback_and_request_id(app, client, json_logs):
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production: a 500 page, not a raise

    def broken(token):
        raise RuntimeError("the printer caught fire")

    app.add_url_rule("/broken/<token>", "broken", broken)

    response = client.get("/broken/hidden-token-abc", headers={"X-Request-ID": "req-500-test"})

    assert response.status_code == 500
    lines = json_logs()
    (error,) = [line for line in lines if line["level"] == "ERROR"]
    assert error["request_id"] == "req-500-test"
    assert "unhandled error in broken [GET]" in error["message"]
    assert "Traceback" in error["exc_info"]
    assert "RuntimeError: the printer caught fire" in error["exc_info"]
    (request_line,) = [line for line in lines if line["logger"] == "fieldsvc.requests"]
    assert request_line["status"] == 500 and request_line["request_id"] == "req-500-test"
    assert "hidden-token-abc" not in json.dumps(lines)


def test_plain_text_logs_carry_the_request_id_too(app, client):
    stream = written_by_the_app(app, "text")

    response = client.get("/healthz")

    assert f"[{response.headers['X-Request-ID']}] GET ops.healthz 200" in stream.getvalue()
