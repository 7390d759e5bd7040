"""Several app servers, as a larger company runs them: two gunicorn servers on one
PostgreSQL database, one job worker, Redis for the queue and the rate limits, an S3 server
for photos and frozen PDFs, and an SMTP server for the mail — all real, started here, all
given the same settings. Nothing may depend on which server a request lands on.

A crew of tablets records incidents with photos over both servers while one of them is
killed (SIGKILL, requests in flight) and started again; a tablet whose request fails sends
it again to the other server with the same idempotency key, as its outbox would. The
module sets all of it up and runs the crew once; each test then checks one thing a person
would notice.
"""

import hashlib
import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
import redis
import requests
from flask import Flask
from PIL import Image, ImageDraw
from sqlalchemy import func, select

from fieldsvc import create_app
from fieldsvc.auth.models import Role, User
from fieldsvc.auth.services import create_user
from fieldsvc.extensions import db
from fieldsvc.incidents.models import Attachment, Incident
from fieldsvc.mail.models import EmailStatus, OutgoingEmail
from fieldsvc.proposals.models import ProposalRevision
from tests import postgres
from tests.conftest import AUDIT_TEST_KEYS, migrate
from tests.conftest import test_config as app_config
from tests.factories import PASSWORD
from tests.ops.test_gunicorn import ROOT, answers, free_port, wait_for
from tests.proposals.broken_transmitters import approve, build_broken_transmitters
from tests.smtp import SmtpServer

TABLETS = 4
# Incidents each tablet records: with both servers up (the kill comes after the first
# round), while one server is down, and after it is back.
BEFORE, WHILE_DOWN, AFTER = 2, 2, 2
FAILED_SIGN_IN_LIMIT = 6
PHOTO_SIZE = (1024, 768)
JSON = {"Accept": "application/json"}
# What a connection to a killed server raises: refused, reset, or closed mid-answer.
UNREACHABLE = (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)


# --- the servers ----------------------------------------------------------------------------


@dataclass
class AppServer:
    """One gunicorn app server (gunicorn.conf.py, as production starts it) on its own port,
    with its own upload directory: a file written there would be on this server alone."""

    name: str
    environment: dict[str, str]
    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def upload_dir(self) -> Path:
        return self.folder / "uploads"

    def start(self) -> None:
        metrics = self.folder / "metrics"
        metrics.mkdir(parents=True, exist_ok=True)
        environment = self.environment | {
            "FIELDSVC_UPLOAD_DIR": str(self.upload_dir),
            "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        }
        command = [sys.executable, "-m", "gunicorn", "--workers", "1"]
        command += ["--bind", f"127.0.0.1:{self.port}", "wsgi:app"]
        with (self.folder / "stderr.log").open("a") as log:
            # Its own process group, so that a kill takes the master and its worker at once,
            # as when the machine goes down.
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=environment, stderr=log, start_new_session=True
            )

    def wait_until_ready(self) -> None:
        wait_for(lambda: answers(self.url))

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        """Ask the server to stop (gunicorn finishes the requests it is serving)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)


@dataclass
class Cluster:
    a: AppServer
    b: AppServer
    smtp: SmtpServer
    app: Flask  # on the same database, for reading what the servers stored
    proposals: dict[str, int]  # the server that sent it → the proposal's id
    supervisors: dict[str, "Tablet"]
    tablets: list["Tablet"]
    crew_site: tuple[int, int]  # the customer's and the site's ids the crew reports on
    recorded: list["Recorded"] = field(default_factory=list)

    def other(self, server: AppServer) -> AppServer:
        return self.b if server is self.a else self.a

    def server(self, name: str) -> AppServer:
        return self.a if name == self.a.name else self.b


@pytest.fixture(scope="module")
def database(postgresql_url, tmp_path_factory) -> Iterator[str]:
    """A database of the module's own in the session's PostgreSQL cluster, dropped after."""
    folder = tmp_path_factory.mktemp("multi-server-database")
    with postgres.fresh_database(postgresql_url, "multi_server", folder) as url:
        yield url


@pytest.fixture(scope="module")
def cluster(database, redis_url, s3_server, tmp_path_factory) -> Iterator[Cluster]:
    """Everything started, the proposals sent and the crew's run done, once for the module.

    On PostgreSQL only (the production database of several servers): it takes no part in
    the suite's SQLite/PostgreSQL parametrisation."""
    folder = tmp_path_factory.mktemp("multi-server")
    # A Redis database of its own: nothing another test queued or counted is seen here.
    redis_url = redis_url.rsplit("/", 1)[0] + "/7"
    redis.Redis.from_url(redis_url).flushdb()
    smtp = SmtpServer()
    smtp.start()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSVC_")} | {
        "FIELDSVC_DATABASE_URL": database,
        "FIELDSVC_SECRET_KEY": uuid.uuid4().hex * 2,
        "FIELDSVC_AUDIT_KEYS": AUDIT_TEST_KEYS,
        "FIELDSVC_AUDIT_ANCHOR_FILE": str(folder / "audit-anchors.jsonl"),
        "FIELDSVC_JOBS_FILE": str(folder / "unused-jobs.sqlite3"),
        "FIELDSVC_REDIS_URL": redis_url,
        "FIELDSVC_SMTP_HOST": smtp.host,
        "FIELDSVC_SMTP_PORT": str(smtp.port),
        "FIELDSVC_MAIL_FROM": "Fieldsvc Service <service@fieldsvc.example>",
        "FIELDSVC_LOGIN_RATE_LIMIT": f"{FAILED_SIGN_IN_LIMIT} per 10 minutes",
        **{
            f"FIELDSVC_{key}": value
            for key, value in s3_server.config(s3_server.new_bucket()).items()
        },
    }
    environment.pop("PROMETHEUS_MULTIPROC_DIR", None)  # each server gets its own
    a = AppServer("A", environment, folder / "a")
    b = AppServer("B", environment, folder / "b")
    environment["FIELDSVC_BASE_URL"] = a.url
    # Started first: they load the app while the database is migrated and filled.
    a.start()
    b.start()
    with (folder / "worker.log").open("w") as log:
        worker = subprocess.Popen(
            [str(Path(sys.executable).with_name("flask")), "--app", "fieldsvc", "jobs", "worker"],
            cwd=folder,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    app = None
    try:
        migrate(database)
        app = create_app(app_config(database, UPLOAD_DIR=str(folder / "reader-uploads")))
        with app.app_context():
            proposals, technicians, crew_site = _prepare()
        a.wait_until_ready()
        b.wait_until_ready()
        cluster = Cluster(
            a=a,
            b=b,
            smtp=smtp,
            app=app,
            proposals=proposals,
            supervisors={
                "A": Tablet("supervisor@northwind-test.example", a, b).sign_in(),
                "B": Tablet("supervisorb@northwind-test.example", b, a).sign_in(),
            },
            # Half the crew on each server.
            tablets=[
                Tablet(email, *((a, b) if n % 2 == 0 else (b, a)))
                for n, email in enumerate(technicians)
            ],
            crew_site=crew_site,
        )
        for tablet in cluster.tablets:
            tablet.sign_in()
        _send_proposals(cluster)
        _record_while_a_server_is_killed(cluster)
        yield cluster
    finally:
        for server in (a, b):
            server.stop()
        worker.terminate()
        for process in (a.process, b.process, worker):
            process.wait(timeout=30)
        smtp.stop()
        if app is not None:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


def _prepare() -> tuple[dict[str, int], list[str], tuple[int, int]]:
    """Two approved proposals ready to send, one per server; the crew's accounts and the
    site they report on."""
    proposals = {}
    for server, other in (("A", ""), ("B", "B ")):
        seed = build_broken_transmitters(other=other)
        approve(seed)
        proposals[server] = seed.proposal.id
        if server == "A":
            crew_team, crew_site = seed.team, (seed.customer.id, seed.incident.site_id)
    technicians = [f"crew{n}@northwind-test.example" for n in range(TABLETS)]
    for n, email in enumerate(technicians):
        create_user(
            name=f"Crew member {n}",
            email=email,
            role=Role.TECHNICIAN,
            password=PASSWORD,
            team_id=crew_team.id,
            actor=None,
        )
    db.session.commit()
    return proposals, technicians, crew_site


# --- the tablets ----------------------------------------------------------------------------


class _Forms(HTMLParser):
    """The fields of each <form> on a page, as a browser would send them, by its action."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self._open: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs) -> None:
        attributes = dict(attrs)
        if tag == "form":
            self._open = {}
            self.forms.append((attributes.get("action") or "", self._open))
        elif tag == "input" and self._open is not None and attributes.get("name"):
            kind = attributes.get("type", "text")
            if kind in ("file", "submit") or (
                kind in ("radio", "checkbox") and "checked" not in attributes
            ):
                return
            self._open[attributes["name"]] = attributes.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None


def form_with(page: str, name: str, action: str = "") -> dict[str, str]:
    """The fields of the page's form that has a field called `name` (and posts to
    `action`, when given)."""
    parser = _Forms()
    parser.feed(page)
    [form] = [fields for to, fields in parser.forms if name in fields and to.endswith(action)]
    return form


@dataclass
class Recorded:
    """One incident a tablet sent, and what the server that took it answered."""

    email: str
    key: str
    incident_id: int
    answered_by: str
    tries: int  # how many times it was sent


class Tablet:
    """A person's tablet: a browser session signed in on its home server, sending to the
    other when its home server does not answer."""

    def __init__(self, email: str, home: AppServer, other: AppServer) -> None:
        self.email, self.home, self.other = email, home, other
        self.session = requests.Session()

    def sign_in(self) -> "Tablet":
        response = self._sign_in(PASSWORD, self.home)
        assert response.status_code == 302, response.text
        return self

    def _sign_in(self, password: str, server: AppServer) -> requests.Response:
        page = self.session.get(f"{server.url}/login", timeout=60).text
        form = form_with(page, "email") | {"email": self.email, "password": password}
        return self.session.post(
            f"{server.url}/login", data=form, allow_redirects=False, timeout=60
        )

    def get(self, server: AppServer, path: str, **options) -> requests.Response:
        return self.session.get(f"{server.url}{path}", timeout=60, **options)

    def record_incident(self, number: int, customer_id: int, site_id: int) -> Recorded:
        """Open the form, fill it in, take a photo and send it, as a technician would."""
        page = self._first_answer(lambda server: self.get(server, "/incidents/new"))
        form = form_with(page.text, "submission_key") | {
            "customer_id": str(customer_id),
            "site_id": str(site_id),
            "severity": "high",
            "actual": f"{self.email}: transmitter {number} over-pressured on the test rig.",
            "reporter_name": "Plant manager",
            "reporter_phone": "+1 555 0100",
        }
        photo = photo_of(f"{self.email} #{number}")
        tries = 0
        for server in [self.home, self.other] * 5:
            tries += 1
            try:
                answer = self.session.post(
                    f"{server.url}/incidents/new",
                    data=form,
                    files={"photos": (f"rig-{number}.jpg", photo, "image/jpeg")},
                    headers=JSON,
                    timeout=60,
                )
            except UNREACHABLE:
                continue  # the outbox sends it again, to the other server, same key
            assert answer.status_code == 200, answer.text
            assert answer.json()["ok"] is True, answer.json()
            incident_id = int(re.search(r"/incidents/(\d+)", answer.json()["url"])[1])
            return Recorded(
                email=self.email,
                key=form["submission_key"],
                incident_id=incident_id,
                answered_by=server.name,
                tries=tries,
            )
        raise AssertionError(f"{self.email}: no server took incident {number}")

    def _first_answer(self, ask) -> requests.Response:
        for server in (self.home, self.other):
            try:
                response = ask(server)
            except UNREACHABLE:
                continue
            assert response.status_code == 200, response.text
            return response
        raise AssertionError("neither server answered")


def photo_of(text: str) -> bytes:
    """A photo unlike any other in the run (its own text and colours)."""
    seed = int(hashlib.sha256(text.encode()).hexdigest()[:6], 16)
    image = Image.linear_gradient("L").resize(PHOTO_SIZE).convert("RGB")
    draw = ImageDraw.Draw(image)
    draw.rectangle((40, 40, 400, 200), fill=(seed & 255, (seed >> 8) & 255, seed >> 16))
    draw.text((60, 100), text, fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


# --- the run --------------------------------------------------------------------------------


def _send_proposals(cluster: Cluster) -> None:
    """Each supervisor sends their proposal from the page, each on their own server: the
    PDF is frozen there and the e-mail queued for the worker."""
    for name, proposal_id in cluster.proposals.items():
        supervisor = cluster.supervisors[name]
        server = cluster.server(name)
        page = supervisor.get(server, f"/proposals/{proposal_id}").text
        form = form_with(page, "version", action="/send")
        answer = supervisor.session.post(
            f"{server.url}/proposals/{proposal_id}/send",
            data=form,
            allow_redirects=False,
            timeout=120,
        )
        assert answer.status_code == 302, answer.text


def _record_while_a_server_is_killed(cluster: Cluster) -> None:
    """The crew records incidents. Half-way through the first round server A is killed,
    requests in flight; the second round is recorded while A is down (A's half of the crew
    finds it gone and sends to B); then A is started again and the crew records the last
    round on both."""
    customer_id, site_id = cluster.crew_site
    lock = threading.Lock()
    half_of_first_round, second_round = threading.Event(), threading.Event()
    a_is_down, a_is_back = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def crew_member(tablet: Tablet) -> None:
        try:
            for number in range(BEFORE + WHILE_DOWN + AFTER):
                if number == BEFORE:
                    assert a_is_down.wait(timeout=180)
                if number == BEFORE + WHILE_DOWN:
                    assert a_is_back.wait(timeout=180), "server A did not come back"
                done = tablet.record_incident(number, customer_id, site_id)
                with lock:
                    cluster.recorded.append(done)
                    if len(cluster.recorded) == TABLETS * BEFORE // 2:
                        half_of_first_round.set()
                    if len(cluster.recorded) == TABLETS * (BEFORE + WHILE_DOWN):
                        second_round.set()
        except BaseException as error:
            failures.append(error)
            for event in (half_of_first_round, second_round, a_is_down, a_is_back):
                event.set()

    crew = [threading.Thread(target=crew_member, args=(t,)) for t in cluster.tablets]
    for thread in crew:
        thread.start()
    assert half_of_first_round.wait(timeout=180)
    cluster.a.kill()
    a_is_down.set()
    assert second_round.wait(timeout=180)
    cluster.a.start()
    cluster.a.wait_until_ready()
    a_is_back.set()
    for thread in crew:
        thread.join(timeout=300)
    if failures:
        raise failures[0]


# --- what a person notices ------------------------------------------------------------------


def test_a_tablet_signed_in_on_one_server_is_signed_in_on_the_other(cluster):
    for tablet in cluster.tablets:
        answer = tablet.get(tablet.other, "/outbox/token", headers=JSON)

        assert answer.status_code == 200
        with cluster.app.app_context():
            user = db.session.scalar(select(User).where(User.email == tablet.email))
        assert answer.json()["user_id"] == user.id


def test_a_page_from_one_server_finds_its_scripts_and_styles_on_the_other(cluster):
    tablet = cluster.tablets[0]
    page = tablet.get(tablet.home, "/incidents/new").text
    assets = set(re.findall(r'(?:src|href)="(/static/[^"]+)"', page))

    assert any(asset.endswith(".js") for asset in assets)
    assert any(asset.endswith(".css") for asset in assets)
    for asset in assets:
        assert tablet.get(tablet.other, asset).status_code == 200, asset


def test_every_incident_the_crew_sent_is_recorded_once_though_a_server_was_killed(cluster):
    sent = cluster.recorded
    with cluster.app.app_context():
        stored = db.session.execute(
            select(Incident.submission_key, Incident.id, func.count(Attachment.id))
            .join(Attachment, Attachment.incident_id == Incident.id, isouter=True)
            .where(Incident.actual.like("crew%"))
            .group_by(Incident.id)
        ).all()

    assert len(sent) == TABLETS * (BEFORE + WHILE_DOWN + AFTER)
    assert {key: (incident_id, photos) for key, incident_id, photos in stored} == {
        done.key: (done.incident_id, 1) for done in sent
    }
    # The run did what it says: tablets found server A gone and sent again to B, and the
    # restarted server A took incidents again.
    assert any(done.tries > 1 for done in sent)
    assert [done.answered_by for done in sent[-TABLETS * AFTER :]].count("A") >= 1


def test_every_photo_reads_back_through_the_server_that_did_not_store_it(cluster):
    for done in cluster.recorded:
        tablet = next(t for t in cluster.tablets if t.email == done.email)
        reader = cluster.other(cluster.server(done.answered_by))
        with cluster.app.app_context():
            photo = db.session.scalar(
                select(Attachment).where(Attachment.incident_id == done.incident_id)
            )
        answer = tablet.get(reader, f"/incidents/{done.incident_id}/photos/{photo.id}")

        assert answer.status_code == 200
        assert hashlib.sha256(answer.content).hexdigest() == photo.sha256
        assert Image.open(io.BytesIO(answer.content)).size == PHOTO_SIZE
    # Nothing was kept on either server's own disk.
    for server in (cluster.a, cluster.b):
        assert not server.upload_dir.exists() or not any(server.upload_dir.rglob("*.*"))


def test_a_proposal_pdf_frozen_on_one_server_downloads_byte_identical_from_the_other(cluster):
    for name, proposal_id in cluster.proposals.items():
        supervisor = cluster.supervisors[name]
        path = f"/proposals/{proposal_id}/revisions/1/proposal.pdf"
        with cluster.app.app_context():
            frozen = db.session.scalar(
                select(ProposalRevision.pdf_sha256).where(
                    ProposalRevision.proposal_id == proposal_id, ProposalRevision.number == 1
                )
            )

        from_sender = supervisor.get(cluster.server(name), path)
        from_other = supervisor.get(cluster.other(cluster.server(name)), path)

        assert frozen is not None
        assert from_other.status_code == 200
        assert from_other.content.startswith(b"%PDF")
        assert from_other.content == from_sender.content
        assert hashlib.sha256(from_other.content).hexdigest() == frozen


def test_every_queued_e_mail_reaches_the_mail_server_once(cluster):
    def delivered() -> bool:
        with cluster.app.app_context():
            statuses = db.session.scalars(select(OutgoingEmail.status)).all()
        return bool(statuses) and set(statuses) == {EmailStatus.SENT}

    _wait(delivered, "the worker did not deliver every e-mail")
    with cluster.app.app_context():
        queued = sorted(
            (message_id, to)
            for message_id, to in db.session.execute(
                select(OutgoingEmail.message_id, OutgoingEmail.to_address)
            )
        )

    smtp = cluster.smtp
    arrived = sorted(
        (message["Message-ID"], recipient)
        for message, [recipient] in zip(smtp.messages, smtp.recipients, strict=True)
    )
    assert len(queued) >= len(cluster.proposals)
    assert arrived == queued


def test_failed_sign_ins_on_both_servers_count_toward_one_limit(cluster):
    """Last: once the limit is reached nobody can sign in from this address for a while."""
    half = FAILED_SIGN_IN_LIMIT // 2
    # Each with another unknown address, so that only the limit per address counts (the
    # one per account is checked in tests/auth).
    strangers = [Tablet(f"guess{n}@elsewhere.example", cluster.a, cluster.b) for n in range(8)]
    on_a = [stranger._sign_in("guess", cluster.a).status_code for stranger in strangers[:half]]
    on_b = [stranger._sign_in("guess", cluster.b).status_code for stranger in strangers[half:-2]]

    assert on_a + on_b == [401] * FAILED_SIGN_IN_LIMIT
    for stranger, server in zip(strangers[-2:], (cluster.a, cluster.b), strict=True):
        refused = stranger._sign_in("guess", server)
        assert refused.status_code == 429
        assert "Too many failed sign-ins from this address" in refused.text


def _wait(condition, message: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.2)
