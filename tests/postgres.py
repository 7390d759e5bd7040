"""A throw-away PostgreSQL cluster for the test session, started from initdb and pg_ctl.

PostgreSQL refuses to run as root, so when the tests run as root (as in CI) the
server's commands run as the `postgres` system user that Debian's package creates.
"""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg


def find_bindir() -> Path | None:
    if configured := os.environ.get("FIELDSVC_PG_BINDIR"):
        return Path(configured)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_major, reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _major(path: str) -> int:
    return int(Path(path).parent.parent.name)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def throwaway_cluster(bindir: Path) -> Iterator[str]:
    """Start a private cluster; yield a SQLAlchemy URL of an empty database in it."""
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    base = Path(tempfile.mkdtemp(prefix="fieldsvc-pg-"))
    if as_root:
        shutil.chown(base, "postgres", "postgres")
    data, port = base / "data", _free_port()

    def run(*command: str) -> None:
        subprocess.run([*prefix, *command], check=True, capture_output=True, text=True)

    try:
        run(
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "fieldsvc",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
        )
        run(
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(base / "server.log"),
            "-w",
            "-o",
            f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -F",
            "start",
        )
        with psycopg.connect(
            host="127.0.0.1", port=port, user="fieldsvc", dbname="postgres", autocommit=True
        ) as connection:
            connection.execute("CREATE DATABASE fieldsvc_test")
        yield f"postgresql+psycopg://fieldsvc@127.0.0.1:{port}/fieldsvc_test"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                capture_output=True,
            )
            time.sleep(0.2)
        shutil.rmtree(base, ignore_errors=True)
