"""The production command: gunicorn with gunicorn.conf.py, several workers, one set of
figures and JSON logs."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import AUDIT_TEST_KEYS, migrate

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "scrape-" + "9a7" * 10


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url: str, **headers) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.read()


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gunicorn")
    database = f"sqlite:///{folder / 'fieldsvc.sqlite3'}"
    migrate(database)
    port = free_port()
    env = os.environ | {
        "FIELDSVC_DATABASE_URL": database,
        "FIELDSVC_UPLOAD_DIR": str(folder / "uploads"),
        "FIELDSVC_AUDIT_KEYS": AUDIT_TEST_KEYS,
        "FIELDSVC_METRICS_TOKEN": TOKEN,
        "FIELDSVC_LOG_FORMAT": "json",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # gunicorn.conf.py makes its own
    command = [sys.executable, "-m", "gunicorn", "--workers", "2"]
    command += ["--bind", f"127.0.0.1:{port}", "wsgi:app"]
    log = (folder / "stderr.log").open("w+")
    server = subprocess.Popen(command, cwd=ROOT, env=env, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: len(psutil.Process(server.pid).children()) == 2 and answers(base))
        yield server, base, log
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def answers(base: str) -> bool:
    try:
        return get(f"{base}/readyz")[0] == 200
    except OSError:
        return False


def wait_for(condition, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "gunicorn did not come up"
        time.sleep(0.1)


def healthz_count(base: str) -> float:
    status, body = get(f"{base}/metrics", Authorization=f"Bearer {TOKEN}")
    assert status == 200
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == "fieldsvc_http_responses_total" and sample.labels == {
                "route": "ops.healthz",
                "method": "GET",
                "status": "200",
            }:
                return sample.value
    return 0


def test_metrics_keep_every_workers_requests_after_the_workers_are_replaced(gunicorn):
    server, base, _ = gunicorn
    for _ in range(20):
        assert get(f"{base}/healthz")[0] == 200
    workers = psutil.Process(server.pid).children()

    # What --max-requests does to each worker in time: it exits and a new one takes over.
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    psutil.wait_procs(workers, timeout=30)
    wait_for(lambda: len(psutil.Process(server.pid).children()) == 2 and answers(base))

    assert healthz_count(base) == 20


def test_gunicorn_logs_json_lines_with_no_access_log_beside_them(gunicorn):
    _, base, log = gunicorn
    status, _ = get(f"{base}/healthz", **{"X-Request-ID": "gunicorn-json-1"})
    assert status == 200

    def logged() -> list[dict]:
        log.seek(0)
        return [json.loads(line) for line in log.read().splitlines() if line.strip()]

    wait_for(lambda: any(line.get("request_id") == "gunicorn-json-1" for line in logged()), 10)
    mine = [line for line in logged() if line.get("request_id") == "gunicorn-json-1"]
    assert [line["endpoint"] for line in mine] == ["ops.healthz"]
    assert any(line["logger"] == "gunicorn.error" for line in logged())  # gunicorn's own
    assert not any("/healthz" in json.dumps(line) for line in logged())  # no access log
