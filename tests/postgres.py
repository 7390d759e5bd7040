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
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url


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


@contextmanager
def fresh_database(database_url: str, prefix: str, folder: Path) -> Iterator[str]:
    """The URL of an empty, unmigrated database of the same kind as `database_url`: a
    SQLite file in `folder`, or a new database in the same PostgreSQL cluster, dropped
    afterwards (with any connection still open to it)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{folder / f'{prefix}.sqlite3'}"
        return
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
