"""Incidents recorded per second with a photo: one app server against two, on this machine.

What runs, all real and started here: PostgreSQL (a throw-away cluster), SeaweedFS (the S3
server the tests use) holding the photos, Redis for the rate limits, and two gunicorn app
servers with the same settings and the same number of sync workers each (WORKERS). Each
incident is what a tablet's outbox sends: the report form, posted as multipart with one
realistic photo (a 2 MB, 8-megapixel JPEG), a fresh idempotency key, the session's CSRF
token and `Accept: application/json`. TABLETS tablets send at once, each signed in as its
own technician.

Rounds are interleaved (one, two, two, one, ...) so both see the same machine. In "one"
every tablet sends to server A; in "two" there is no balancer: each tablet alternates
between A and B, request by request. Per setting it prints incidents/s, p50/p99 latency,
and CPU (user + system, psutil) per incident of the app servers (master and workers of
both), PostgreSQL (postmaster and backends), the S3 server, Redis and this client; then how
busy that keeps the machine's cores, and the largest share: what limits it.

    .venv/bin/python benchmarks/multi_server.py [ROUNDS, default 3] [INCIDENTS a round, default 40]

TABLETS (default 4) and WORKERS (default 2, per server) are read from the environment.
"""

import io
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

import flask_migrate
import psutil
import requests
from PIL import Image
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fieldsvc import create_app  # noqa: E402
from fieldsvc.auth.models import Role  # noqa: E402
from fieldsvc.auth.services import create_user  # noqa: E402
from fieldsvc.extensions import db  # noqa: E402
from fieldsvc.incidents.models import Incident  # noqa: E402
from fieldsvc.incidents.photos import process_photo  # noqa: E402
from tests import postgres, redis_server, s3  # noqa: E402
from tests.proposals.broken_transmitters import build_broken_transmitters  # noqa: E402
from tests.smtp import free_port  # noqa: E402

TABLETS = int(os.environ.get("TABLETS", "4"))
WORKERS = int(os.environ.get("WORKERS", "2"))
PASSWORD = "correct horse battery"
AUDIT_KEYS = "bench-1:" + "be4c" * 16
SETTINGS = ("one", "two")
PHOTO_SIDE = (3264, 2448)  # 8 megapixels, a tablet camera's photo


def camera_photo() -> bytes:
    """A JPEG that compresses like a photo: broad shapes and sensor noise, about 2 MB."""
    shapes_side = (PHOTO_SIDE[0] // 64, PHOTO_SIDE[1] // 64)
    shapes = Image.frombytes("RGB", shapes_side, os.urandom(shapes_side[0] * shapes_side[1] * 3))
    scene = shapes.resize(PHOTO_SIDE, Image.Resampling.BICUBIC)
    noise = Image.effect_noise(PHOTO_SIDE, 30).convert("RGB")
    out = io.BytesIO()
    Image.blend(scene, noise, 0.25).save(out, "JPEG", quality=85)
    return out.getvalue()


# --- the servers ----------------------------------------------------------------------------


def start_gunicorn(
    stack: ExitStack, environment: dict[str, str], folder: Path
) -> tuple[str, psutil.Process]:
    """An app server on a free port, stopped when `stack` closes; its URL once ready, and
    its master process (the workers are its children)."""
    port = free_port()
    folder.mkdir(parents=True)
    command = [sys.executable, "-m", "gunicorn", "--workers", str(WORKERS)]
    command += ["--bind", f"127.0.0.1:{port}", "--log-level", "warning", "wsgi:app"]
    log = stack.enter_context((folder.parent / f"{folder.name}.log").open("w"))
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=environment
        | {"PROMETHEUS_MULTIPROC_DIR": str(folder), "FIELDSVC_UPLOAD_DIR": str(folder)},
        stderr=log,
    )
    stack.callback(stop, process)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/readyz", timeout=30).status_code == 200:
                return base, psutil.Process(process.pid)
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def listening_on(url: str) -> psutil.Process:
    """The process that listens on the URL's port (PostgreSQL's postmaster, SeaweedFS,
    Redis): this run's own, whatever else runs on the machine. Not for gunicorn, whose
    workers listen on their master's socket too."""
    port = int(re.search(r":(\d+)(/|$)", url)[1])
    for connection in psutil.net_connections(kind="tcp"):
        if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port:
            return psutil.Process(connection.pid)
    raise RuntimeError(f"nothing listens on port {port}")


def tree_cpu(process: psutil.Process) -> float:
    """CPU seconds of a process and its children alive now."""
    total = 0.0
    for member in [process, *process.children(recursive=True)]:
        try:
            times = member.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


# --- the data and the tablets ---------------------------------------------------------------


def prepare(settings: dict) -> tuple[list[str], int, int]:
    """A team, its customer and site, and one technician per tablet."""
    app = create_app(settings)
    with app.app_context():
        flask_migrate.upgrade()
        seed = build_broken_transmitters(with_proposal=False)
        emails = [f"tablet{n}@northwind-test.example" for n in range(TABLETS)]
        for n, email in enumerate(emails):
            create_user(
                name=f"Tablet {n}",
                email=email,
                role=Role.TECHNICIAN,
                password=PASSWORD,
                team_id=seed.team.id,
                actor=None,
            )
        db.session.commit()
        return emails, seed.customer.id, seed.incident.site_id


def incidents_stored(settings: dict) -> int:
    app = create_app(settings)
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Incident))


class Tablet:
    """Signed in once; sends each incident as its outbox does."""

    def __init__(self, email: str, base: str, customer_id: int, site_id: int) -> None:
        self.session = requests.Session()
        page = self.session.get(f"{base}/login").text
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]
        signed_in = self.session.post(
            f"{base}/login",
            data={"csrf_token": token, "email": email, "password": PASSWORD},
            allow_redirects=False,
        )
        assert signed_in.status_code == 302, signed_in.text
        self.csrf = self.session.get(f"{base}/outbox/token").json()["csrf_token"]
        occurred = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
        self.fields = {
            "customer_id": str(customer_id),
            "site_id": str(site_id),
            "reported_via": "on_site",
            "severity": "high",
            "occurred_at": occurred,
            "cause_category": "our_technician",
            "reporter_name": "Plant manager",
            "reporter_phone": "+1 555 0100",
            "expected": "All transmitters calibrated and back in service today.",
            "actual": "PT-107 over-pressured on the test rig during calibration.",
        }

    def record(self, base: str, photo: bytes) -> float:
        """Send one incident with its photo; the seconds until the server's answer."""
        started = time.perf_counter()
        answer = self.session.post(
            f"{base}/incidents/new",
            data=self.fields | {"submission_key": uuid.uuid4().hex},
            files={"photos": ("PT-107.jpg", photo, "image/jpeg")},
            headers={"Accept": "application/json", "X-CSRFToken": self.csrf},
            timeout=120,
        )
        took = time.perf_counter() - started
        assert answer.status_code == 200 and answer.json()["ok"], answer.text[:300]
        return took


# --- the rounds -----------------------------------------------------------------------------


def run_round(
    tablets: list[Tablet], servers: list[str], incidents: int, photo: bytes
) -> list[float]:
    """`incidents` incidents from all tablets at once; each tablet goes round `servers`."""
    numbers = count()
    lock = threading.Lock()

    def tablet_sends(n: int) -> list[float]:
        times = []
        for turn in count():
            with lock:
                if next(numbers) >= incidents:
                    return times
            times.append(tablets[n].record(servers[(n + turn) % len(servers)], photo))

    with ThreadPoolExecutor(len(tablets)) as pool:
        return [t for times in pool.map(tablet_sends, range(len(tablets))) for t in times]


def measure(meters: dict[str, Callable[[], float]]) -> dict[str, float]:
    return {name: meter() for name, meter in meters.items()}


def main(rounds: int = 3, incidents: int = 40) -> None:
    photo = camera_photo()
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        database = stack.enter_context(postgres.throwaway_cluster(postgres.find_bindir()))
        s3_server = stack.enter_context(s3.seaweedfs(s3.find_weed()))
        redis_url = stack.enter_context(redis_server.throwaway_redis(redis_server.find_server()))
        bucket = s3_server.new_bucket()
        settings = {
            "SQLALCHEMY_DATABASE_URI": database,
            "SECRET_KEY": "multi-server-bench",
            "AUDIT_KEYS": AUDIT_KEYS,
            **s3_server.config(bucket),
        }
        environment = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSVC_")}
        environment |= {
            "FIELDSVC_DATABASE_URL": database,
            "FIELDSVC_SECRET_KEY": "multi-server-bench-" + "0" * 32,
            "FIELDSVC_AUDIT_KEYS": AUDIT_KEYS,
            "FIELDSVC_REDIS_URL": redis_url,
            "FIELDSVC_JOBS_FILE": str(folder / "unused-jobs.sqlite3"),
            **{f"FIELDSVC_{key}": value for key, value in s3_server.config(bucket).items()},
        }
        environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
        emails, customer_id, site_id = prepare(settings)
        a, server_a = start_gunicorn(stack, environment, folder / "a")
        b, server_b = start_gunicorn(stack, environment, folder / "b")
        tablets = [Tablet(email, a, customer_id, site_id) for email in emails]
        postmaster = listening_on(database)
        weed = listening_on(s3_server.endpoint_url)
        redis_process = listening_on(redis_url)
        client = psutil.Process()
        meters = {
            "app": lambda: tree_cpu(server_a) + tree_cpu(server_b),
            "postgres": lambda: tree_cpu(postmaster),
            "s3": lambda: tree_cpu(weed),
            "redis": lambda: tree_cpu(redis_process),
            "client": lambda: sum(client.cpu_times()[:2]),  # this process alone
        }
        targets = {"one": [a], "two": [a, b]}
        for setting in SETTINGS:  # warm both servers' workers: imports, connections
            run_round(tablets, targets[setting], 2 * TABLETS, photo)

        latencies: dict[str, list[float]] = {s: [] for s in SETTINGS}
        walls = dict.fromkeys(SETTINGS, 0.0)
        cpu = {s: dict.fromkeys(meters, 0.0) for s in SETTINGS}
        machine_busy = dict.fromkeys(SETTINGS, 0.0)
        for number in range(rounds):
            order = SETTINGS if number % 2 == 0 else SETTINGS[::-1]
            for setting in order:
                before, machine = measure(meters), psutil.cpu_times()
                started = time.perf_counter()
                latencies[setting] += run_round(tablets, targets[setting], incidents, photo)
                walls[setting] += time.perf_counter() - started
                after, machine_after = measure(meters), psutil.cpu_times()
                for name in meters:
                    cpu[setting][name] += after[name] - before[name]
                idle = (machine_after.idle + machine_after.iowait) - (machine.idle + machine.iowait)
                total = sum(machine_after) - sum(machine)
                machine_busy[setting] += total - idle
        report(photo, rounds, incidents, latencies, walls, cpu, machine_busy)
        expected = (rounds * 2 * incidents) + 2 * 2 * TABLETS + 1  # + the story's incident
        stored = incidents_stored(settings)
        assert stored == expected, f"{stored} incidents stored, {expected} sent"


def photo_cpu(photo: bytes) -> float:
    """CPU seconds the app spends checking and re-encoding one such photo (and its
    thumbnail), measured here in one process."""

    def once() -> float:
        started = time.process_time()
        process_photo(photo, "PT-107.jpg", max_bytes=50_000_000, max_pixels=50_000_000)
        return time.process_time() - started

    once()  # the first loads the codecs
    return statistics.median(once() for _ in range(5))


def report(photo, rounds, incidents, latencies, walls, cpu, machine_busy) -> None:
    cores = psutil.cpu_count()
    sent = rounds * incidents
    names = list(next(iter(cpu.values())))
    print(
        f"photo {len(photo) / 1e6:.1f} MB JPEG ({PHOTO_SIDE[0]} x {PHOTO_SIDE[1]}); "
        f"{TABLETS} tablets; {WORKERS} sync workers per app server; {rounds} rounds of "
        f"{incidents} incidents per setting; {cores} cores"
    )
    print(
        f"{'servers':8}{'incid/s':>8}{'p50 ms':>8}{'p99 ms':>8}  |  CPU ms per incident:"
        + "".join(f"{name:>9}" for name in names)
        + f"{'all':>7}  |  cores busy: ours machine"
    )
    for setting in SETTINGS:
        times = sorted(latencies[setting])
        per = {name: cpu[setting][name] / sent * 1000 for name in names}
        rate = sent / walls[setting]
        print(
            f"{setting:8}{rate:8.2f}{statistics.median(times) * 1000:8.0f}"
            f"{times[max(0, int(len(times) * 0.99) - 1)] * 1000:8.0f}  |  {'':20}"
            + "".join(f"{per[name]:9.0f}" for name in names)
            + f"{sum(per.values()):7.0f}  |  {'':11}{sum(per.values()) * rate / 1000:5.2f}"
            f"{machine_busy[setting] / walls[setting]:8.2f}"
        )
    re_encoding = photo_cpu(photo) * 1000
    for setting in SETTINGS:
        per = {name: cpu[setting][name] / sent * 1000 for name in names}
        top = max(per, key=per.get)
        print(
            f"{setting}: {top} {per[top]:.0f} of {sum(per.values()):.0f} CPU ms an incident "
            f"({per[top] / sum(per.values()):.0%}); the photo's re-encoding alone is "
            f"{re_encoding:.0f} ms; {cores} cores / {sum(per.values()):.0f} ms = at most "
            f"{cores * 1000 / sum(per.values()):.0f} incidents/s on this machine were it ours "
            f"alone (it was {machine_busy[setting] / walls[setting] / cores:.0%} busy)"
        )


if __name__ == "__main__":
    main(*[int(value) for value in sys.argv[1:3]])
