"""A throw-away Redis for the test session: Debian's redis-server on a free port, with
its files in a temporary directory, nothing saved to disk."""

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from tests.smtp import HOST, free_port


def find_server() -> str | None:
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )


@contextmanager
def throwaway_redis(server: str) -> Iterator[str]:
    """Start redis-server; yield its URL (database 0); stop it and remove its files."""
    base = Path(tempfile.mkdtemp(prefix="fieldsvc-redis-"))
    port = free_port()
    process = subprocess.Popen(
        [
            server,
            "--bind",
            HOST,
            "--port",
            str(port),
            "--dir",
            str(base),
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://{HOST}:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        for _ in range(200):  # up to ~10 s for the server to listen
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None:
                    raise RuntimeError(f"redis-server exited with {process.returncode}") from None
                time.sleep(0.05)
        else:
            raise RuntimeError("redis-server did not answer")
        client.close()
        yield url
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(base, ignore_errors=True)
