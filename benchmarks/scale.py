"""Every page a person opens, at 1,000 and at 100,000 incidents, on SQLite and on
PostgreSQL: the median server time of each (Flask test client, a supervisor of one
of five teams signed in), and the ratio of the two sizes, which take turns request by
request so that both see the same machine. The last line is the worst
ratio. Target: each page <= 50 ms at 100k on both databases, ratio <= 1.5.

The data sets are a company's history (benchmarks/history.py) built once and kept
under instance/benchmarks/ (a SQLite file per size; a PostgreSQL cluster started
from initdb as the tests do, kept in instance/benchmarks/postgresql/); a change to
the builder or the migrations builds them again. Missing sets are built before any
page is timed, SQLite's and PostgreSQL's side by side.

    .venv/bin/python benchmarks/scale.py [--sizes 1000,100000] [--requests 15]
        [--databases sqlite,postgresql] [--rebuild]
"""

import argparse
import hashlib
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, nullcontext
from pathlib import Path

import psycopg
from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import history  # noqa: E402
from fieldsvc import create_app  # noqa: E402
from fieldsvc.auth.models import Role, User  # noqa: E402
from fieldsvc.extensions import db  # noqa: E402
from fieldsvc.incidents.models import Incident  # noqa: E402
from fieldsvc.proposals.models import Proposal, ProposalRevision  # noqa: E402
from tests import postgres  # noqa: E402

CACHE = ROOT / "instance" / "benchmarks"
TARGET_MS, TARGET_RATIO = 50.0, 1.5
WARM_UP = 3


def data_version() -> str:
    """Changes when the builder or the schema does: the cached sets are then rebuilt."""
    digest = hashlib.sha256((ROOT / "benchmarks" / "history.py").read_bytes())
    for migration in sorted((ROOT / "migrations" / "versions").glob("*.py")):
        digest.update(migration.read_bytes())
    return digest.hexdigest()[:10]


# --- the databases ---------------------------------------------------------------------------


def sqlite_url(size: int, rebuild: bool) -> str:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"scale-{size}-{data_version()}.sqlite3"
    if rebuild or not path.exists():
        for old in CACHE.glob(f"scale-{size}-*.sqlite3*"):
            old.unlink()
        partial = path.with_suffix(".building")
        for leftover in CACHE.glob(f"{partial.name}*"):
            leftover.unlink()
        _timed_build(f"sqlite:///{partial}", size, "sqlite")
        partial.rename(path)
    return f"sqlite:///{path}"


@contextmanager
def kept_cluster() -> Iterator[str]:
    """A PostgreSQL cluster whose data stays in instance/benchmarks/postgresql/;
    yields the URL of its server (without a database name)."""
    bindir = postgres.find_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL server binaries (initdb, pg_ctl) not found")
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    base = CACHE / "postgresql"
    data = base / "data"
    base.mkdir(parents=True, exist_ok=True)
    if as_root:
        shutil.chown(base, "postgres", "postgres")

    def run(*command: str) -> None:
        subprocess.run([*prefix, *command], check=True, capture_output=True, text=True)

    if not (data / "PG_VERSION").exists():
        run(str(bindir / "initdb"), "-D", str(data), "-U", "fieldsvc", "--auth=trust",
            "-E", "UTF8", "--locale=C")  # fmt: skip
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -F"
    run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "server.log"), "-w",
        "-o", options, "start")  # fmt: skip
    try:
        yield f"postgresql+psycopg://fieldsvc@127.0.0.1:{port}"
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")


def postgresql_url(server: str, size: int, rebuild: bool) -> str:
    name = f"scale_{size}_{data_version()}"
    plain = server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(f"{plain}/postgres", autocommit=True) as connection:
        # This size's sets only: in LIKE "_" is any character, so "scale_1000_%" would
        # take the 100,000 set for an old 1,000 one and drop it.
        kept = re.compile(rf"scale_{size}_[0-9a-f]+")
        existing = {
            name
            for (name,) in connection.execute("SELECT datname FROM pg_database")
            if kept.fullmatch(name)
        }
        ready = name in existing and not rebuild
        for old in existing - ({name} if ready else set()):
            connection.execute(f'DROP DATABASE "{old}"')
        for leftover in [f"{name}_building"]:
            connection.execute(f'DROP DATABASE IF EXISTS "{leftover}"')
        if not ready:
            connection.execute(f'CREATE DATABASE "{name}_building"')
    if not ready:
        _timed_build(f"{server}/{name}_building", size, "postgresql")
        with psycopg.connect(f"{plain}/postgres", autocommit=True) as connection:
            connection.execute(f'ALTER DATABASE "{name}_building" RENAME TO "{name}"')
    return f"{server}/{name}"


def _timed_build(url: str, size: int, database: str) -> None:
    started = time.perf_counter()
    history.build(url, size)
    print(f"built {size:,} incidents on {database} in {time.perf_counter() - started:.0f} s",
          flush=True)  # fmt: skip


def data_sets(
    databases: list[str], sizes: tuple[int, int], server: str | None, rebuild: bool
) -> dict[tuple[str, int], str]:
    """The URL of each database's set of each size, built first where missing: the
    databases side by side (a process each, one a core), each one's sizes in turn, so
    that nothing is being built while pages are timed."""
    with ProcessPoolExecutor(max_workers=len(databases)) as pool:
        lanes = {
            database: pool.submit(_sets_of, database, server, sizes, rebuild)
            for database in databases
        }
        return {
            (database, size): url
            for database, lane in lanes.items()
            for size, url in zip(sizes, lane.result(), strict=True)
        }


def _sets_of(database: str, server: str | None, sizes: tuple[int, int], rebuild: bool) -> list[str]:
    if database == "sqlite":
        return [sqlite_url(size, rebuild) for size in sizes]
    return [postgresql_url(server, size, rebuild) for size in sizes]


# --- the pages -------------------------------------------------------------------------------


def pages(app) -> dict[str, str]:
    """Each page a person opens, as a supervisor of the first team sees it."""
    with app.app_context():
        supervisor = db.session.scalar(
            select(User).where(User.role == Role.SUPERVISOR).order_by(User.id).limit(1)
        )
        team_incidents = (
            select(Incident.id)
            .join(Incident.customer)
            .where(Incident.customer.has(team_id=supervisor.team_id))
        )
        newest = db.session.scalar(team_incidents.order_by(Incident.id.desc()).limit(1))
        later = db.session.scalar(team_incidents.order_by(Incident.id.desc()).offset(100).limit(1))
        offered = db.session.scalar(
            select(Proposal.incident_id)
            .where(Proposal.incident_id.in_(team_incidents))
            .order_by(Proposal.id.desc())
            .limit(1)
        )
        waiting = db.session.scalar(
            select(ProposalRevision.proposal_id)
            .join(ProposalRevision.proposal)
            .where(ProposalRevision.status == "submitted")
            .where(Proposal.incident_id.in_(team_incidents))
            .order_by(ProposalRevision.id.desc())
            .limit(1)
        )
        incident = db.session.get(Incident, newest)
        customer_id, site_id = incident.customer_id, incident.site_id
        email = supervisor.email
    return {
        "_email": email,
        "incident list": "/incidents/",
        "incident list, load more": f"/incidents/?before={later}",
        "list: open": "/incidents/?status=open",
        "list: customer": f"/incidents/?customer_id={customer_id}",
        "list: site": f"/incidents/?site_id={site_id}",
        "list: severity": "/incidents/?severity=critical",
        "list: reported via": "/incidents/?reported_via=email",
        "list: overdue": "/incidents/?overdue=1",
        "list: mine": "/incidents/?mine=1",
        "list: text search": "/incidents/?q=gasket",
        "list: text search, rare": "/incidents/?q=no+such+words",
        "my day": "/my-day",
        "incident page": f"/incidents/{offered}",
        "proposal editor": f"/proposals/{waiting}",
        "approval page": f"/proposals/{waiting}/approve",
        "approvals queue": "/approvals",
        "dashboard": "/dashboard",
        "reports": "/reports",
        **{
            f"report csv: {name}": f"/reports/{name}.csv"
            for name in (
                "cost-by-cause",
                "cost-by-customer",
                "cost-by-technician",
                "cost-by-month",
                "response-times",
            )
        },
        "csv export, first byte": "/incidents/export.csv",
    }


def signed_in(url: str):
    """A test client of an app on `url`, the supervisor signed in, and the pages' paths."""
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "SERVER_NAME": "bench", "WTF_CSRF_ENABLED": False}
    )
    urls = pages(app)
    client = app.test_client()
    response = client.post("/login", data={"email": urls.pop("_email"), "password":
                                           history.PASSWORD})  # fmt: skip
    assert response.status_code == 302, "sign-in failed"
    return app, client, urls


def timed_get(client, name: str, path: str) -> float:
    """Milliseconds until the page is whole (or its first byte, for the CSV files)."""
    first_byte = name.endswith("first byte") or name.startswith("report csv")
    started = time.perf_counter()
    response = client.get(path, buffered=not first_byte)
    if first_byte:
        next(iter(response.response), b"")
    elapsed = (time.perf_counter() - started) * 1000
    response.close()
    assert response.status_code == 200, f"{name}: {path} answered {response.status_code}"
    return elapsed


def medians(urls: dict[str, str], requests: int) -> dict[str, dict[str, float]]:
    """The median time of each page at each size (`urls` maps a size to its database).

    The sizes take turns request by request, so both see the same machine: a busy
    minute slows both instead of skewing their ratio."""
    readers = {size: signed_in(url) for size, url in urls.items()}
    results: dict[str, dict[str, float]] = {size: {} for size in urls}
    first = next(iter(readers.values()))
    for name in first[2]:
        spent: dict[str, list[float]] = {size: [] for size in urls}
        # The first requests warm up: the first page of a fresh process compiles its
        # templates and builds its statements once (30-100 ms on its own).
        for attempt in range(requests + WARM_UP):
            for size, (_, client, paths) in readers.items():
                elapsed = timed_get(client, name, paths[name])
                if attempt >= WARM_UP:
                    spent[size].append(elapsed)
        for size in urls:
            results[size][name] = statistics.median(spent[size])
    for app, _, _ in readers.values():
        with app.app_context():
            db.engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--requests", type=int, default=15)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    small, large = (int(size) for size in args.sizes.split(","))
    databases = args.databases.split(",")
    started = time.perf_counter()
    worst, table = 0.0, []
    cluster = kept_cluster() if "postgresql" in databases else nullcontext(None)
    with cluster as server:
        sets = data_sets(databases, (small, large), server, args.rebuild)
        for database in databases:
            urls = {size: sets[database, size] for size in (small, large)}
            figures = medians(urls, args.requests)
            print(f"\n{database}: median ms of {args.requests} requests, sizes taking turns")
            print(f"{'page':<32} {small:>9,} {large:>9,}  ratio")
            for name in figures[small]:
                a, b = figures[small][name], figures[large][name]
                ratio = b / a
                worst = max(worst, ratio)
                miss = " <- over target" if b > TARGET_MS or ratio > TARGET_RATIO else ""
                print(f"{name:<32} {a:9.1f} {b:9.1f} {ratio:6.2f}{miss}")
                table.append((database, name, a, b, ratio))
    print(f"\nfinished in {time.perf_counter() - started:.0f} s")
    print(f"worst ratio {worst:.2f}")


if __name__ == "__main__":
    main()
