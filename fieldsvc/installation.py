"""One installation's settings wherever a process starts: the settings file every process
reads, the line each command prints to say what it works on, and the refusal to run a
production installation without its settings.

A cron line or a systemd unit does not inherit the shell the operator configured: without
the settings it would quietly fall back to the development defaults, a SQLite file under
instance/. So the settings live in one file that the app reads itself, whatever the
current directory; every `flask` command says on stderr which environment and database it
uses; and once a production command has run here, this installation refuses to run
without the production settings instead of opening a leftover development database.
"""

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from dotenv import dotenv_values
from flask.cli import ScriptInfo
from sqlalchemy.engine import make_url

from fieldsvc.config import DEFAULT_BASE_URL, ConfigurationError

INSTALL_DIR = Path(__file__).resolve().parent.parent
SETTINGS_FILE = INSTALL_DIR / "fieldsvc.env"
PRODUCTION_MARK = "production"  # a file in the instance folder


def load_settings_file() -> Path | None:
    """Add the settings file's variables to the environment (those already set win) and
    return its path: FIELDSVC_ENV_FILE, else fieldsvc.env in the install directory if
    present. FIELDSVC_ENV_FILE set but empty reads none."""
    named = os.environ.get("FIELDSVC_ENV_FILE")
    if named == "":
        return None
    path = Path(named) if named else SETTINGS_FILE
    if not path.is_file():
        if named:
            raise ConfigurationError(f"FIELDSVC_ENV_FILE names {path}, which is not a file")
        return None
    try:
        values = dotenv_values(path, encoding="utf-8")
    except OSError as error:
        raise ConfigurationError(f"cannot read the settings file {path}: {error}") from error
    for name, value in values.items():
        if value is not None:
            os.environ.setdefault(name, value)
    return path


def _in_a_command() -> bool:
    context = click.get_current_context(silent=True)
    return context is not None and context.find_object(ScriptInfo) is not None


@contextmanager
def refusals_said_plainly() -> Iterator[None]:
    """In a `flask` command, a refused setting ends it with the reason, not a traceback."""
    try:
        yield
    except ConfigurationError as error:
        if _in_a_command():
            raise click.ClickException(f"fieldsvc: {error}") from error
        raise


def instance_dir() -> str | None:
    """FIELDSVC_INSTANCE_DIR: where the database, files and keys live by default (None:
    instance/ in the install directory)."""
    named = os.environ.get("FIELDSVC_INSTANCE_DIR")
    if named and not Path(named).is_absolute():
        raise ConfigurationError(f"FIELDSVC_INSTANCE_DIR must be an absolute path, not {named!r}")
    return named or None


def check_not_missing_production(config: Mapping[str, Any]) -> None:
    """Refuse to run in development where a production command has run: the production
    settings are missing from this process, not meant to be left out."""
    mark = Path(config["PRODUCTION_MARK"])
    if config["ENV_NAME"] == "production" or not mark.exists():
        return
    raise ConfigurationError(
        f"this installation runs in production ({mark} says so), but FIELDSVC_ENV is not "
        "production in this process: its settings are missing, and it would use the "
        "development database instead. Put the settings in the settings file, "
        f"{SETTINGS_FILE} (or the file FIELDSVC_ENV_FILE names), which every command, cron "
        "line and service reads, or give this process the app's environment. If this "
        f"installation is no longer production, delete {mark}."
    )


def announce_command(config: Mapping[str, Any], settings_file: Path | None) -> None:
    """For a `flask` command: say on stderr which environment and database it uses, and
    mark a production installation as such. Nothing for the web server or the tests."""
    if not _in_a_command():
        return
    click.echo(f"fieldsvc: {describe(config, settings_file)}", err=True)
    if config["ENV_NAME"] != "production":
        return
    if config["BASE_URL"] == DEFAULT_BASE_URL:
        click.echo(
            f"fieldsvc: FIELDSVC_BASE_URL is not set: links in e-mails and PDFs point to "
            f"{DEFAULT_BASE_URL}, not to the address customers reach",
            err=True,
        )
    _mark_production(Path(config["PRODUCTION_MARK"]))


def describe(config: Mapping[str, Any], settings_file: Path | None) -> str:
    """`production, database postgresql+psycopg://fieldsvc:***@db/fieldsvc, settings from
    /srv/fieldsvc/fieldsvc.env`: never a password."""
    database = make_url(config["SQLALCHEMY_DATABASE_URI"]).render_as_string(hide_password=True)
    source = f"settings from {settings_file}" if settings_file else "no settings file"
    return f"{config['ENV_NAME']}, database {database}, {source}"


def _mark_production(mark: Path) -> None:
    if mark.exists():
        return
    try:
        mark.parent.mkdir(parents=True, exist_ok=True)
        mark.write_text(
            "A production command ran in this installation. Every fieldsvc process here\n"
            "now refuses to run without FIELDSVC_ENV=production (its settings missing).\n"
            "Delete this file only if this installation is no longer production.\n"
        )
    except OSError:
        pass  # a read-only instance folder: the line on stderr still says what ran
