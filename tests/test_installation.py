"""An installation's first day: `make install`, the settings file every process reads
(cron included), the line each command prints about what it works on, and the refusal
to run a production installation without its settings."""

import os
import pty
import select
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.cli import FlaskGroup
from sqlalchemy.engine import make_url

from fieldsvc import create_app
from fieldsvc.config import ConfigurationError
from fieldsvc.installation import load_settings_file
from tests import conftest
from tests.conftest import AUDIT_TEST_KEYS

ROOT = Path(__file__).resolve().parents[1]
FLASK = Path(sys.executable).with_name("flask")


def command_line(**config):
    """`flask --app fieldsvc` as a person runs it, on an app made with these settings."""
    return FlaskGroup(create_app=lambda: create_app(conftest.test_config(**config)))


def test_a_command_says_on_stderr_which_environment_and_database_it_uses(tmp_path):
    database = "postgresql+psycopg://fieldsvc:s3cret-pw@db.example/fieldsvc"
    cli = command_line(database_url=database, PRODUCTION_MARK=str(tmp_path / "production"))

    result = CliRunner().invoke(cli, ["users", "create", "--help"])

    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "fieldsvc: development, database postgresql+psycopg://fieldsvc:***@db.example/fieldsvc,"
        " no settings file"
    ]
    assert "s3cret-pw" not in result.output


def test_production_commands_mark_the_installation_and_then_refuse_to_run_without_it(tmp_path):
    mark = tmp_path / "instance" / "production"
    database = f"sqlite:///{tmp_path / 'fieldsvc.sqlite3'}"
    production = command_line(
        database_url=database, PRODUCTION_MARK=str(mark), ENV_NAME="production"
    )

    first = CliRunner().invoke(production, ["users", "create", "--help"])
    assert first.exit_code == 0, first.output
    assert first.stderr.startswith("fieldsvc: production, database sqlite:///")
    assert "FIELDSVC_BASE_URL is not set: links in e-mails and PDFs point to" in first.stderr
    assert mark.is_file()

    # A cron line without the settings: development defaults, which would quietly open
    # a leftover SQLite file.
    refused = CliRunner().invoke(
        command_line(database_url=database, PRODUCTION_MARK=str(mark)), ["audit", "verify"]
    )
    assert refused.exit_code == 1
    message = " ".join(refused.output.split())
    assert "Error: fieldsvc: this installation runs in production" in message
    assert "but FIELDSVC_ENV is not production in this process: its settings are missing" in (
        message
    )
    assert "Put the settings in the settings file" in message
    assert f"delete {mark}" in message
    # The web server, too, refuses to start on the development defaults.
    with pytest.raises(ConfigurationError, match="this installation runs in production"):
        create_app(conftest.test_config(database, PRODUCTION_MARK=str(mark)))


def test_settings_in_the_environment_win_over_the_settings_file(tmp_path, monkeypatch):
    settings = tmp_path / "fieldsvc.env"
    settings.write_text("FIELDSVC_COMPANY_NAME='Acme Service'\nFIELDSVC_CURRENCY=EUR\n")
    monkeypatch.setenv("FIELDSVC_ENV_FILE", str(settings))
    monkeypatch.setenv("FIELDSVC_CURRENCY", "CHF")
    monkeypatch.delenv("FIELDSVC_COMPANY_NAME", raising=False)

    assert load_settings_file() == settings
    assert os.environ["FIELDSVC_COMPANY_NAME"] == "Acme Service"
    assert os.environ["FIELDSVC_CURRENCY"] == "CHF"


def test_a_settings_file_that_is_named_but_missing_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("FIELDSVC_ENV_FILE", str(tmp_path / "nowhere.env"))
    with pytest.raises(ConfigurationError, match=r"FIELDSVC_ENV_FILE names .*nowhere\.env"):
        load_settings_file()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_cron_line_with_no_environment_reads_the_settings_file_and_names_its_database(
    tmp_path, database_url
):
    database = database_url  # the session's migrated SQLite database
    settings = tmp_path / "fieldsvc.env"
    settings.write_text(
        "FIELDSVC_ENV=production\n"
        "FIELDSVC_SECRET_KEY=" + "5ec7" * 16 + "\n"
        f"FIELDSVC_AUDIT_KEYS={AUDIT_TEST_KEYS}\n"
        f"FIELDSVC_DATABASE_URL={database}\n"
        "FIELDSVC_BASE_URL=https://service.example.com\n"
    )
    instance = tmp_path / "instance"
    # What cron gives a command: next to no environment, and the home directory.
    cron = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "FIELDSVC_INSTANCE_DIR": str(instance)}

    ran = subprocess.run(
        [FLASK, "--app", "fieldsvc", "audit", "verify"],
        env=cron | {"FIELDSVC_ENV_FILE": str(settings)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert ran.returncode == 0, ran.stderr
    assert ran.stderr.splitlines()[0] == (
        f"fieldsvc: production, database {database}, settings from {settings}"
    )
    assert (instance / "production").is_file()

    without = subprocess.run(
        [FLASK, "--app", "fieldsvc", "audit", "verify"],
        env=cron | {"FIELDSVC_ENV_FILE": ""},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert without.returncode == 1
    assert "Error: fieldsvc: this installation runs in production" in without.stderr
    assert "Traceback" not in without.stderr
    assert not (instance / "fieldsvc.sqlite3").exists()


def test_make_install_installs_the_app_without_test_tools_demo_or_database(tmp_path):
    venv = tmp_path / "venv"
    made = subprocess.run(
        ["make", "--no-print-directory", "install", f"VENV={venv}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert made.returncode == 0, made.stdout + made.stderr
    assert (venv / "bin" / "gunicorn").exists()
    assert not (venv / "bin" / "pytest").exists()
    assert "demo" not in made.stdout
    assert "db upgrade" not in made.stdout
    helped = subprocess.run(
        [venv / "bin" / "flask", "--app", "fieldsvc", "users", "create", "--help"],
        env=os.environ | {"FIELDSVC_INSTANCE_DIR": str(tmp_path / "instance")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert helped.returncode == 0, helped.stderr
    assert "--password-stdin" in helped.stdout


def test_gunicorn_takes_its_address_and_workers_from_the_settings_file(tmp_path):
    settings = tmp_path / "fieldsvc.env"
    settings.write_text("FIELDSVC_BIND=127.0.0.1:8123\nWEB_CONCURRENCY=3\n")
    environment = {
        k: v for k, v in os.environ.items() if k not in ("FIELDSVC_BIND", "WEB_CONCURRENCY")
    }
    printed = subprocess.run(
        [Path(sys.executable).with_name("gunicorn"), "--print-config", "wsgi:app"],
        cwd=ROOT,
        env=environment | {"FIELDSVC_ENV_FILE": str(settings)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert printed.returncode == 0, printed.stderr
    settings_shown = {
        line.split("=")[0].strip(): line.split("=", 1)[1].strip()
        for line in printed.stdout.splitlines()
        if "=" in line
    }
    assert settings_shown["bind"] == "['127.0.0.1:8123']"
    assert settings_shown["workers"] == "3"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_users_create_in_a_terminal_asks_for_the_password_twice(tmp_path, database_url):
    database = tmp_path / "fieldsvc.sqlite3"
    migrated = make_url(database_url).database
    with closing(sqlite3.connect(migrated)) as source, closing(sqlite3.connect(database)) as copy:
        source.backup(copy)  # the session's migrated, empty database, copied
    environment = os.environ | {
        "FIELDSVC_DATABASE_URL": f"sqlite:///{database}",
        "FIELDSVC_INSTANCE_DIR": str(tmp_path / "instance"),
        "FIELDSVC_AUDIT_KEYS": AUDIT_TEST_KEYS,
    }
    terminal, its_end = pty.openpty()
    command = [FLASK, "--app", "fieldsvc", "users", "create", "--email", "ada@example.com"]
    command += ["--role", "admin", "--name", "Ada Admin"]
    typed = subprocess.Popen(
        command, stdin=its_end, stdout=its_end, stderr=its_end, env=environment
    )
    os.close(its_end)
    try:
        shown = read_until(terminal, "Password: ")
        os.write(terminal, b"a long passphrase\n")
        shown += read_until(terminal, "Repeat for confirmation: ")
        os.write(terminal, b"a long passphrase\n")
        shown += read_until(terminal, "\n", after="created")
        assert typed.wait(timeout=60) == 0, shown
    finally:
        if typed.poll() is None:
            typed.kill()
        os.close(terminal)
    assert "created admin Ada Admin <ada@example.com>" in shown
    assert "a long passphrase" not in shown  # not echoed
    with closing(sqlite3.connect(database)) as check:
        assert check.execute("SELECT name, role FROM users").fetchall() == [("Ada Admin", "admin")]


def read_until(terminal: int, text: str, after: str = "", seconds: float = 60) -> str:
    """What the terminal shows up to `text` (the first one following `after`)."""
    shown = ""
    deadline = time.monotonic() + seconds
    while True:
        start = shown.find(after) if after else 0
        if start >= 0 and text in shown[start:]:
            return shown
        assert time.monotonic() < deadline, f"waited for {text!r}; the terminal shows {shown!r}"
        ready, _, _ = select.select([terminal], [], [], 1)
        if ready:
            try:
                shown += os.read(terminal, 1024).decode()
            except OSError:  # the command exited and closed its end
                return shown


def test_an_instance_folder_given_as_a_relative_path_is_refused(monkeypatch):
    monkeypatch.setenv("FIELDSVC_INSTANCE_DIR", "instance")
    with pytest.raises(ConfigurationError, match="FIELDSVC_INSTANCE_DIR must be an absolute"):
        create_app(conftest.test_config("sqlite://"))
