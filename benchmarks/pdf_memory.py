"""A gunicorn worker's memory while it renders proposal PDFs: the production command
(gunicorn.conf.py, wsgi:app) with one worker and no recycling (--max-requests 0, so any
growth would show), the demo proposal's preview fetched N times over HTTP, the worker's
RSS printed every 100 renders. Flat means the figure stops moving after the first
renders warm the caches.

    .venv/bin/python benchmarks/pdf_memory.py [N]        # N = 2000 by default
"""

import http.cookiejar
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import flask_migrate
import psutil
from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def prepare(folder: Path) -> str:
    """A demo database; the preview URL of its proposal."""
    from fieldsvc import create_app
    from fieldsvc.demo import load_demo_data
    from fieldsvc.extensions import db
    from fieldsvc.proposals.models import Proposal

    app = create_app()
    with app.app_context():
        flask_migrate.upgrade()
        load_demo_data()
        db.session.commit()
        revision = db.session.scalars(select(Proposal)).one().current
        url = f"/proposals/{revision.proposal_id}/revisions/{revision.number}/proposal.pdf"
        db.session.remove()
        db.engine.dispose()
    return url


def signed_in_opener(base: str) -> urllib.request.OpenerDirector:
    from fieldsvc.demo import DEMO_PASSWORD

    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    page = opener.open(f"{base}/login").read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]
    form = urllib.parse.urlencode(
        {"csrf_token": token, "email": "tech@example.com", "password": DEMO_PASSWORD}
    )
    opener.open(f"{base}/login", data=form.encode()).read()
    return opener


def wait_until_up(base: str, server: subprocess.Popen) -> None:
    for _ in range(600):
        if server.poll() is not None:
            sys.exit("gunicorn exited")
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit("gunicorn did not answer")


def main(times: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        os.environ.update(
            FIELDSVC_DATABASE_URL=f"sqlite:///{Path(folder) / 'bench.sqlite3'}",
            FIELDSVC_UPLOAD_DIR=str(Path(folder) / "uploads"),
            FIELDSVC_AUDIT_KEYS="bench-1:" + "be9c" * 16,
            PROMETHEUS_MULTIPROC_DIR=str(Path(folder) / "metrics"),
        )
        url = prepare(Path(folder))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "gunicorn", "--workers", "1", "--max-requests", "0"]
        command += ["--bind", f"127.0.0.1:{port}", "wsgi:app"]
        # Its log (a line per request) would bury the figures.
        server = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.DEVNULL)
        try:
            wait_until_up(base, server)
            opener = signed_in_opener(base)
            (worker,) = psutil.Process(server.pid).children()
            started = time.perf_counter()
            print(f"renders  worker RSS   elapsed (worker pid {worker.pid})", flush=True)
            print(f"{0:7d}  {worker.memory_info().rss / MIB:7.1f} MiB  {0:6.0f} s", flush=True)
            for done in range(1, times + 1):
                body = opener.open(base + url).read()
                assert body.startswith(b"%PDF-"), body[:200]
                if done % 100 == 0:
                    rss = worker.memory_info().rss / MIB
                    spent = time.perf_counter() - started
                    print(f"{done:7d}  {rss:7.1f} MiB  {spent:6.0f} s", flush=True)
            assert worker.is_running(), "the worker was replaced: the figures mix two processes"
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
