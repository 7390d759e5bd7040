"""Server CPU per request of fieldsvc's busiest pages against a bare Flask page, under
gunicorn, side by side in one run.

Both apps run under gunicorn with the same flags (2 sync workers) on the same SQLite
file: the demo data plus 200 incidents reported through the app's services, each with
a work-log entry and a follow-up (every 7th overdue). The bare page runs one query of 50
incidents through the SQLAlchemy ORM into a tiny template (the ratios' yardstick);
`bare-core` is the same with a Core query of plain rows, shown for comparison. Both
compress their page as fieldsvc does (Flask-Compress, the same algorithms and levels, read
from fieldsvc's configuration) since the browser asks for it and fieldsvc pays for it;
`bare-plain` is the ORM page sent uncompressed, the yardstick before fieldsvc compressed
its pages, shown for comparison. Rounds are interleaved (bare, bare-core, bare-plain, list,
incident page, dashboard, bare, ...) so all see the same machine; each request is sent as
a browser sends it
(signed in as the demo supervisor, with Chromium's `Accept` header and `Accept-Encoding:
br, gzip`) by two clients at once.
CPU is the time the gunicorn workers spent on a CPU over a round (the kernel's scheduler
statistics, in nanoseconds; psutil's user + system time, counted in 10 ms ticks, where
those are not kept), divided by the round's requests. Prints requests/s, p50/p99 and CPU
ms per request for each page and its ratio to the bare page; the last line is
`worst cpu ratio X`.
The servers write their output (fieldsvc's line for each request) to a file in the run's
temporary folder, as a server's log goes to a file or a journal, so the figures do not
depend on where this script's own output goes: written to a terminal or to a pipe that
another program reads, a log line costs fieldsvc's workers up to 0.15 ms more CPU.
Targets: list <= 2x, incident page <= 3x, dashboard <= 3x the bare page.

    .venv/bin/python benchmarks/throughput.py [ROUNDS, default 6] [REQUESTS a round, default 300]

300 requests a round so that, where only psutil's 10 ms ticks are at hand, a tick is a small
part of a round. THROUGHPUT_PAGES=list,incident
runs only those pages beside the bare one.
"""

import http.cookiejar
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import flask_migrate
import psutil
from flask import Flask, render_template
from flask_compress import Compress
from jinja2 import DictLoader
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

ROOT = Path(__file__).resolve().parent.parent
# The database is built by this checkout's fieldsvc, the one gunicorn serves from ROOT, not
# by whichever checkout the virtualenv's editable install points at.
sys.path.insert(0, str(ROOT))
GUNICORN = [sys.executable, "-m", "gunicorn", "--workers", "2", "--worker-class", "sync"]
# No worker replaced during the run (gunicorn.conf.py replaces each after about 1,000
# requests): a replaced worker's CPU would vanish from a round and its successor's start-up
# be counted in it.
GUNICORN += ["--log-level", "warning", "--max-requests", "0"]
CLIENTS = 2
EXTRA_INCIDENTS = 200
TARGETS = {"list": 2.0, "incident": 3.0, "dashboard": 3.0}
# What Chromium sends with a page's request besides its cookies.
BROWSER_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
    "Accept-Encoding": "br, gzip",
}
# fieldsvc's compression settings, handed to the bare app through its environment.
COMPRESSION = ("COMPRESS_ALGORITHM", "COMPRESS_BR_LEVEL", "COMPRESS_LEVEL", "COMPRESS_MIN_SIZE")

BARE_TEMPLATE = """<!doctype html><title>Incidents</title><ul>
{% for row in rows %}<li>{{ row.reference }} · {{ row.status }} · {{ row.severity }}
 · {{ row.created_at }}<br>{{ row.actual }}</li>
{% endfor %}</ul>"""


class BareBase(DeclarativeBase):
    pass


class BareIncident(BareBase):
    """The few columns of fieldsvc's incidents table the bare page shows."""

    __tablename__ = "incidents"
    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str]
    status: Mapped[str]
    severity: Mapped[str]
    actual: Mapped[str]
    created_at: Mapped[datetime]


def bare_app() -> Flask:
    """The yardstick: one query of 50 rows through the SQLAlchemy ORM (as fieldsvc reads
    everything) into a tiny template, compressed as fieldsvc compresses, nothing else;
    `/core` does the same with a Core query of plain rows and `/plain` the ORM page
    uncompressed, printed for comparison."""
    app = Flask(__name__)
    app.jinja_loader = DictLoader({"index.html": BARE_TEMPLATE})
    app.config.update(json.loads(os.environ["THROUGHPUT_COMPRESSION"]), COMPRESS_REGISTER=False)
    compress = Compress(app)
    engine = create_engine(os.environ["FIELDSVC_DATABASE_URL"])
    newest = select(BareIncident).order_by(BareIncident.created_at.desc()).limit(50)
    newest_rows = text(
        "SELECT reference, status, severity, created_at, actual FROM incidents"
        " ORDER BY created_at DESC LIMIT 50"
    )

    @app.get("/")
    @compress.compressed()
    def index():
        return plain()

    @app.get("/plain")
    def plain():
        with Session(engine) as session:
            rows = session.scalars(newest).all()
            return render_template("index.html", rows=rows)

    @app.get("/core")
    @compress.compressed()
    def core():
        with engine.connect() as connection:
            rows = connection.execute(newest_rows).all()
        return render_template("index.html", rows=rows)

    return app


def build(database: str) -> tuple[int, dict]:
    """The demo data and EXTRA_INCIDENTS more; returns the demo incident's id and
    fieldsvc's compression settings."""
    from fieldsvc import create_app
    from fieldsvc.audit.services import acting
    from fieldsvc.auth.models import Role, User
    from fieldsvc.customers.models import Site
    from fieldsvc.database import utcnow
    from fieldsvc.demo import load_demo_data
    from fieldsvc.extensions import db
    from fieldsvc.incidents.models import Incident, ReportedVia, Severity
    from fieldsvc.incidents.services import (
        IncidentReport,
        log_work,
        promise_follow_up,
        report_incident,
    )

    app = create_app({"SQLALCHEMY_DATABASE_URI": database})
    with app.app_context():
        flask_migrate.upgrade()
        load_demo_data()
        db.session.commit()
        demo_incident = db.session.scalars(db.select(Incident)).one()
        technician = db.session.scalars(db.select(User).filter_by(role=Role.TECHNICIAN)).one()
        site = db.session.scalars(db.select(Site)).one()
        now = utcnow()
        for n in range(EXTRA_INCIDENTS):
            at = now - timedelta(hours=6 * (EXTRA_INCIDENTS - n))
            incident = report_incident(
                IncidentReport(
                    customer_id=site.customer_id,
                    site_id=site.id,
                    equipment_ids=[site.equipment[n % len(site.equipment)].id],
                    reported_via=ReportedVia.PHONE,
                    severity=list(Severity)[n % len(Severity)],
                    expected="Transmitter reads within 0.1 % of the reference.",
                    actual=f"Reading drifts by {n % 9 + 1} % after the morning run.",
                    occurred_at=at,
                    reporter_contact_id=site.customer.contacts[0].id,
                ),
                actor=technician,
                now=at,
            )
            with acting(technician):
                log_work(incident, actor=technician, started_at=at, minutes=30, note="Checked")
                promise_follow_up(
                    incident,
                    actor=technician,
                    owner_id=technician.id,
                    due_at=at + timedelta(days=1 if n % 7 == 0 else 400),
                    promise="Call back with the fix",
                    now=at,
                )
            db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        return demo_incident.id, {key: app.config[key] for key in COMPRESSION}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(app_spec: str, env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    with log.open("ab") as output:
        server = subprocess.Popen(
            [*GUNICORN, "--bind", f"127.0.0.1:{port}", app_spec],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(url + "/login" if "fieldsvc" in app_spec else url, timeout=1)
            return server, url
        except OSError:
            time.sleep(0.1)
    server.kill()
    output = log.read_text(errors="replace").splitlines()[-20:]
    raise SystemExit(f"{app_spec} did not start; the servers' last lines:\n" + "\n".join(output))


def signed_in_opener(base: str) -> urllib.request.OpenerDirector:
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    page = opener.open(base + "/login").read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]
    form = {"csrf_token": token, "email": "supervisor@example.com", "password": "demo"}
    opener.open(base + "/login", urllib.parse.urlencode(form).encode()).read()
    return opener


def workers_cpu(server: subprocess.Popen) -> float:
    """Seconds of CPU the server's workers have used: from the kernel's scheduler
    statistics where it keeps them (nanoseconds, every thread), else psutil's user +
    system time, which Linux counts in 10 ms ticks."""
    total = 0.0
    for worker in psutil.Process(server.pid).children():
        total += _scheduled_seconds(worker.pid) or sum(worker.cpu_times()[:2])
    return total


def _scheduled_seconds(pid: int) -> float | None:
    """The time a process's threads have spent on a CPU (/proc/PID/task/*/schedstat, whose
    first field is nanoseconds), or None where the kernel does not keep it."""
    try:
        runs = [
            int((task / "schedstat").read_text().split()[0])
            for task in Path(f"/proc/{pid}/task").iterdir()
        ]
    except (OSError, ValueError, IndexError):
        return None
    return sum(runs) / 1e9 if any(runs) else None


def run_round(server, opener, url: str, count: int) -> tuple[float, list[float], float]:
    """(requests/s, latencies in ms, CPU ms per request) of `count` requests."""

    def one(_):
        request = urllib.request.Request(url, headers=BROWSER_HEADERS)
        started = time.perf_counter()
        with opener.open(request) as response:
            response.read()
            # A lapsed sign-in would redirect to the login page: measure only the page asked for.
            assert response.status == 200 and response.geturl() == url, (url, response.geturl())
        return (time.perf_counter() - started) * 1000

    cpu_before = workers_cpu(server)
    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        latencies = list(pool.map(one, range(count)))
    elapsed = time.perf_counter() - started
    cpu_ms = (workers_cpu(server) - cpu_before) * 1000 / count
    return count / elapsed, latencies, cpu_ms


def main(rounds: int, count: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        database = f"sqlite:///{Path(folder) / 'throughput.sqlite3'}"
        incident_id, compression = build(database)
        env = {
            **os.environ,
            "FIELDSVC_DATABASE_URL": database,
            "FIELDSVC_SECRET_KEY": "throughput-benchmark",
            "FIELDSVC_LOGIN_RATE_LIMIT": "1000 per minute",
            "THROUGHPUT_COMPRESSION": json.dumps(compression),
        }
        log = Path(folder) / "servers.log"
        fieldsvc, fieldsvc_url = serve("wsgi:app", env, log)
        bare, bare_url = serve("benchmarks.throughput:bare_app()", env, log)
        try:
            opener = signed_in_opener(fieldsvc_url)
            plain = urllib.request.build_opener()
            pages = {
                "bare": (bare, plain, bare_url + "/"),
                "bare-core": (bare, plain, bare_url + "/core"),
                "bare-plain": (bare, plain, bare_url + "/plain"),
                "list": (fieldsvc, opener, fieldsvc_url + "/incidents/"),
                "incident": (fieldsvc, opener, f"{fieldsvc_url}/incidents/{incident_id}"),
                "dashboard": (fieldsvc, opener, fieldsvc_url + "/dashboard"),
            }
            if only := os.environ.get("THROUGHPUT_PAGES"):  # e.g. "list": the bare page always runs
                pages = {
                    name: page
                    for name, page in pages.items()
                    if name == "bare" or name in only.split(",")
                }
            for server, client, url in pages.values():  # warm up: imports, template compiles
                run_round(server, client, url, 10)
            results = {name: ([], [], []) for name in pages}
            for _ in range(rounds):
                for name, (server, client, url) in pages.items():
                    rate, latencies, cpu = run_round(server, client, url, count)
                    results[name][0].append(rate)
                    results[name][1].extend(latencies)
                    results[name][2].append(cpu)
        finally:
            for server in (fieldsvc, bare):
                server.terminate()
                server.wait()

    bare_cpu = statistics.median(results["bare"][2])
    print(f"{rounds} interleaved rounds of {count} requests, {CLIENTS} clients, 2 sync workers")
    print(f"{'page':<10} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'cpu ms/req':>11} {'ratio':>6}")
    worst = 0.0
    for name, (rates, latencies, cpus) in results.items():
        cpu = statistics.median(cpus)
        ratio = cpu / bare_cpu
        p99 = statistics.quantiles(latencies, n=100)[98]
        target = f"  (target <= {TARGETS[name]:.0f}x)" if name in TARGETS else ""
        print(
            f"{name:<10} {statistics.median(rates):>7.0f} {statistics.median(latencies):>7.1f} "
            f"{p99:>7.1f} {cpu:>11.2f} {ratio:>6.2f}{target}"
        )
        if name in TARGETS:
            worst = max(worst, ratio)
    print(f"worst cpu ratio {worst:.2f}")


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 6, int(sys.argv[2]) if len(sys.argv) > 2 else 300
    )
