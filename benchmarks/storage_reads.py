"""A 5 MB photo in an S3 bucket, read through the app: streamed by the app, or the app
checks who asks and redirects to a presigned URL (FIELDSVC_STORAGE_READS).

One SeaweedFS server (a real S3 API server, tests/s3.py) holds the bucket; one SQLite
file holds the demo data and an incident with a 5 MB JPEG. Two gunicorn servers (2 sync
workers each) serve the same data, one per read mode. Rounds alternate between the modes
so both see the same machine; in each, CLIENTS signed-in clients fetch the photo
REQUESTS times (following the redirect, to the last byte). Prints, per mode, photos/s,
p50/p90 wall time and the app workers' CPU per photo (psutil); the last line names the
faster mode.

    .venv/bin/python benchmarks/storage_reads.py [ROUNDS, default 4] [REQUESTS a round, default 40]
"""

import hashlib
import http.cookiejar
import io
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
from contextlib import ExitStack
from pathlib import Path

import flask_migrate
import psutil
from PIL import Image
from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fieldsvc import create_app  # noqa: E402
from fieldsvc.auth.models import User  # noqa: E402
from fieldsvc.demo import load_demo_data  # noqa: E402
from fieldsvc.extensions import db  # noqa: E402
from fieldsvc.incidents.models import Incident  # noqa: E402
from fieldsvc.incidents.photos import ProcessedPhoto  # noqa: E402
from fieldsvc.incidents.services import attach_photos  # noqa: E402
from tests import s3  # noqa: E402

MODES = ("stream", "redirect")
CLIENTS = 2
GUNICORN = [sys.executable, "-m", "gunicorn", "--workers", "2", "--worker-class", "sync"]
GUNICORN += ["--log-level", "warning"]
AUDIT_KEYS = "bench-1:" + "be4c" * 16


def five_megabyte_jpeg() -> bytes:
    """Noise compresses badly: a 2,400 x 1,800 photo of it at quality 95 is ~5 MB."""
    side = (2400, 1800)
    image = Image.frombytes("RGB", side, os.urandom(side[0] * side[1] * 3))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    return out.getvalue()


def prepare(environment: dict[str, str]) -> str:
    """Demo data plus one photo; returns the photo's path on the app."""
    app = create_app({"TESTING": False, **settings_of(environment)})
    with app.app_context():
        flask_migrate.upgrade()
        load_demo_data()
        db.session.commit()
        incident = db.session.scalar(select(Incident))
        technician = db.session.scalar(select(User).where(User.email == "tech@example.com"))
        data = five_megabyte_jpeg()
        thumb = io.BytesIO()
        Image.new("RGB", (320, 240)).save(thumb, "JPEG")
        photo = ProcessedPhoto(
            data=data,
            thumbnail=thumb.getvalue(),
            content_type="image/jpeg",
            extension="jpg",
            width=2400,
            height=1800,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            filename="pt-107.jpg",
        )
        (attachment,) = attach_photos(incident, [photo], actor=technician)
        db.session.commit()
        print(f"photo: {len(data) / 1e6:.1f} MB, stored in bucket {app.config['S3_BUCKET']}")
        return f"/incidents/{incident.id}/photos/{attachment.id}"


def settings_of(environment: dict[str, str]) -> dict:
    return {
        "SQLALCHEMY_DATABASE_URI": environment["FIELDSVC_DATABASE_URL"],
        "SECRET_KEY": environment["FIELDSVC_SECRET_KEY"],
        "AUDIT_KEYS": AUDIT_KEYS,
        "STORAGE": "s3",
        "S3_BUCKET": environment["FIELDSVC_S3_BUCKET"],
        "S3_ENDPOINT_URL": environment["FIELDSVC_S3_ENDPOINT_URL"],
        "S3_REGION": environment["FIELDSVC_S3_REGION"],
        "S3_ACCESS_KEY_ID": environment["FIELDSVC_S3_ACCESS_KEY_ID"],
        "S3_SECRET_ACCESS_KEY": environment["FIELDSVC_S3_SECRET_ACCESS_KEY"],
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(environment: dict[str, str], mode: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [*GUNICORN, "--bind", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=ROOT,
        env={**os.environ, **environment, "FIELDSVC_STORAGE_READS": mode},
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{base}/login", timeout=2).read()
            return process, base
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn ({mode}) did not start")


def signed_in_opener(base: str) -> urllib.request.OpenerDirector:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/login").read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]
    form = {"csrf_token": token, "email": "supervisor@example.com", "password": "demo"}
    opener.open(f"{base}/login", urllib.parse.urlencode(form).encode()).read()
    return opener


def workers_cpu(process: subprocess.Popen) -> float:
    total = 0.0
    for child in psutil.Process(process.pid).children():
        times = child.cpu_times()
        total += times.user + times.system
    return total


def fetch(opener, url: str, size: int) -> float:
    started = time.perf_counter()
    with opener.open(url) as answer:
        body = answer.read()
    assert len(body) == size, (len(body), size)
    return time.perf_counter() - started


def main(rounds: int = 4, requests: int = 40) -> None:
    with ExitStack() as stack:
        server = stack.enter_context(s3.seaweedfs(s3.find_weed()))
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        bucket = server.new_bucket()
        environment = {
            "FIELDSVC_DATABASE_URL": f"sqlite:///{directory / 'bench.sqlite3'}",
            "FIELDSVC_SECRET_KEY": "storage-bench-secret",
            "FIELDSVC_AUDIT_KEYS": AUDIT_KEYS,
            "FIELDSVC_STORAGE": "s3",
            "FIELDSVC_S3_BUCKET": bucket,
            "FIELDSVC_S3_ENDPOINT_URL": server.endpoint_url,
            "FIELDSVC_S3_REGION": s3.REGION,
            "FIELDSVC_S3_ACCESS_KEY_ID": s3.ACCESS_KEY,
            "FIELDSVC_S3_SECRET_ACCESS_KEY": s3.SECRET_KEY,
        }
        path = prepare(environment)
        size = len(
            server.client().get_object(Bucket=bucket, Key=_key_of(environment))["Body"].read()
        )
        servers = {}
        for mode in MODES:
            process, base = start_gunicorn(environment, mode)
            stack.callback(_stop, process)
            servers[mode] = (process, base, [signed_in_opener(base) for _ in range(CLIENTS)])
        times: dict[str, list[float]] = {mode: [] for mode in MODES}
        cpu: dict[str, float] = dict.fromkeys(MODES, 0.0)
        walls: dict[str, float] = dict.fromkeys(MODES, 0.0)
        for mode in MODES:  # warm both: imports, connections, the first presign
            _, base, openers = servers[mode]
            fetch(openers[0], base + path, size)
        for _ in range(rounds):
            for mode in MODES:
                process, base, openers = servers[mode]
                before = workers_cpu(process)
                started = time.perf_counter()
                with ThreadPoolExecutor(CLIENTS) as pool:
                    jobs = [
                        pool.submit(fetch, openers[n % CLIENTS], base + path, size)
                        for n in range(requests)
                    ]
                    times[mode] += [job.result() for job in jobs]
                walls[mode] += time.perf_counter() - started
                cpu[mode] += workers_cpu(process) - before
        count = rounds * requests
        for mode in MODES:
            ordered = sorted(times[mode])
            print(
                f"{mode:8}  {count / walls[mode]:6.1f} photos/s  "
                f"p50 {statistics.median(ordered) * 1000:6.1f} ms  "
                f"p90 {ordered[int(len(ordered) * 0.9)] * 1000:6.1f} ms  "
                f"app cpu {cpu[mode] / count * 1000:5.1f} ms/photo"
            )
        faster = min(MODES, key=lambda mode: statistics.median(times[mode]))
        print(f"faster: {faster} ({count} photos of {size / 1e6:.1f} MB each, {CLIENTS} clients)")


def _key_of(environment: dict[str, str]) -> str:
    from fieldsvc.incidents.models import Attachment

    app = create_app({"TESTING": False, **settings_of(environment)})
    with app.app_context():
        return db.session.scalar(select(Attachment.storage_key))


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=10)


if __name__ == "__main__":
    arguments = [int(value) for value in sys.argv[1:3]]
    main(*arguments)
