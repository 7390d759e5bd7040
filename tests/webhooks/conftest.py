"""A real webhook receiver on 127.0.0.1 (allow-listed, as FIELDSVC_WEBHOOK_ALLOW would
in a deployment that posts to its own network), and the real job queue for the tests
that need jobs to wait (retries, a job run twice)."""

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from flask import Flask
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from fieldsvc.jobs import queue
from tests.jobs.conftest import Worker

HOST = "127.0.0.1"


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict:
        return json.loads(self.body)

    def verified_with(self, secret: str) -> dict:
        """The payload, once the reference implementation has checked its signature."""
        return Webhook(secret).verify(self.body, self.headers)

    def verifies_with(self, secret: str) -> bool:
        try:
            self.verified_with(secret)
        except WebhookVerificationError:
            return False
        return True


@dataclass
class Receiver:
    """Answers each POST with the next status in `answers` (200 once they run out)."""

    port: int = 0
    answers: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    def url(self, path: str = "/hooks/fieldsvc") -> str:
        return f"http://{HOST}:{self.port}{path}"


@pytest.fixture(scope="module")
def receiving_server() -> Iterator[Receiver]:
    """One server for a module's tests; `receiver` starts each test with it empty."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.received.append(Received(self.path, dict(self.headers.items()), body))
            status = state.answers.pop(0) if state.answers else 200
            reply = b"thanks" if status < 400 else b"receiver trouble <b>escaped?</b>"
            self.send_response(status)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer((HOST, 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver(app: Flask, receiving_server: Receiver) -> Receiver:
    receiving_server.answers.clear()
    receiving_server.received.clear()
    app.config.update(WEBHOOK_ALLOW=HOST, WEBHOOK_TIMEOUT=5.0)
    return receiving_server


@pytest.fixture
def worker(app: Flask, tmp_path) -> Iterator[Worker]:
    """Jobs wait in a real queue (Huey on a SQLite file) until the test runs them."""
    app.config.update(JOBS_IMMEDIATE=False, JOBS_FILE=str(tmp_path / "jobs.sqlite3"))
    queue.init_app(app)
    try:
        yield Worker()
    finally:
        app.config.update(JOBS_IMMEDIATE=True)
        queue.init_app(app)
