"""Online backup and restore of the embedded default: the SQLite database and the files
it names, while tablets keep writing.

The database is copied first, in one consistent snapshot (SQLite's online backup API:
writers go on meanwhile), then the files that snapshot names. A file is stored before
its row commits, so every file the snapshot names is already in storage; a photo added
after the snapshot is neither in the copied database nor in the manifest.
"""

import json
import os
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from fieldsvc.backup.files import referenced_files, sha256_hex
from fieldsvc.errors import DomainError
from fieldsvc.storage import LocalStorage, S3Storage, Storage, key_parts

MANIFEST = "manifest.json"
DATABASE = "fieldsvc.sqlite3"
FILES = "files"
FORMAT = 1


class BackupRefused(DomainError):
    """A backup or restore that would be wrong or lose data; the message says why."""


@dataclass(frozen=True)
class Manifest:
    path: Path
    content: dict[str, Any]

    @property
    def files(self) -> list[dict[str, Any]]:
        return self.content["files"]


def sqlite_path(database_url: str) -> Path:
    """The database file, or refuse: PostgreSQL is backed up with its own tools."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise BackupRefused(
            f"backup create/restore handle the embedded SQLite database; this app uses "
            f"{url.render_as_string(hide_password=True)}: use pg_dump or a base backup "
            "(see the operations guide)"
        )
    return Path(url.database)


def create_backup(target: Path, *, database_url: str, storage: Storage) -> Manifest:
    """Copy the database, then every file it names, into `target`, with a manifest."""
    source = sqlite_path(database_url)
    if target.exists() and any(target.iterdir()):
        raise BackupRefused(f"{target} is not empty: back up into a new directory")
    if not source.is_file():
        raise BackupRefused(f"no database at {source}")
    target.mkdir(parents=True, exist_ok=True)
    snapshot = target / DATABASE
    snapshot_database(source, snapshot)
    entries = copy_named_files(snapshot, storage, target / FILES)
    return write_manifest(target, snapshot, entries)


def snapshot_database(source: Path, snapshot: Path) -> None:
    """One consistent copy while others write: the whole database in one backup step."""
    reader = sqlite3.connect(source)
    try:
        copy = sqlite3.connect(snapshot)
        try:
            reader.backup(copy)
        finally:
            copy.close()
    finally:
        reader.close()


def copy_named_files(snapshot: Path, storage: Storage, into: Path) -> list[dict[str, Any]]:
    """Copy the files the snapshot names from storage, each checked against its row."""
    engine = create_engine(f"sqlite:///{snapshot}")
    try:
        with Session(engine) as session:
            files = referenced_files(session)
    finally:
        engine.dispose()
    entries = []
    problems = []
    for file in files:
        try:
            data = storage.get(file.key)
        except FileNotFoundError:
            problems.append(f"{file.what} {file.key}: missing from storage")
            continue
        digest = sha256_hex(data)
        if file.sha256 is not None and digest != file.sha256:
            problems.append(
                f"{file.what} {file.key}: its SHA-256 is {digest}, the database recorded "
                f"{file.sha256}"
            )
            continue
        path = into.joinpath(*key_parts(file.key))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        entries.append({"key": file.key, "sha256": digest, "size": len(data)})
    if problems:
        raise BackupRefused("not a complete backup: " + "; ".join(problems))
    return entries


def write_manifest(target: Path, snapshot: Path, entries: list[dict[str, Any]]) -> Manifest:
    """Written last: a directory with a manifest holds a complete backup."""
    data = snapshot.read_bytes()
    content = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": {"file": DATABASE, "sha256": sha256_hex(data), "size": len(data)},
        "files": entries,
    }
    draft = target / f".{MANIFEST}.tmp"
    draft.write_text(json.dumps(content, indent=1) + "\n")
    os.replace(draft, target / MANIFEST)
    return Manifest(target / MANIFEST, content)


def verify_backup(source: Path) -> Manifest:
    """Read the manifest and check the database and every file against it."""
    path = source / MANIFEST
    try:
        content = json.loads(path.read_text())
    except FileNotFoundError:
        raise BackupRefused(f"{path} not found: not a (complete) backup") from None
    except ValueError as error:
        raise BackupRefused(f"{path} is not a manifest: {error}") from None
    if content.get("format") != FORMAT:
        raise BackupRefused(f"{path}: unknown backup format {content.get('format')!r}")
    problems = _check(source / content["database"]["file"], content["database"])
    for entry in content["files"]:
        try:
            problems += _check(source / FILES / Path(*key_parts(entry["key"])), entry)
        except ValueError as error:
            problems.append(str(error))
    if problems:
        raise BackupRefused("the backup does not match its manifest: " + "; ".join(problems))
    return Manifest(path, content)


def _check(path: Path, entry: dict[str, Any]) -> list[str]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [f"{path} is missing"]
    if len(data) != entry["size"] or sha256_hex(data) != entry["sha256"]:
        return [f"{path} has changed since the backup"]
    return []


def restore_backup(source: Path, *, database_url: str, storage: Storage, force: bool) -> Manifest:
    """Verify the backup, then put its database and files in place of an empty instance
    (or of any, with force)."""
    manifest = verify_backup(source)
    database = sqlite_path(database_url)
    if not force:
        if _holds_data(database):
            raise BackupRefused(f"{database} already holds data; use --force to replace it")
        if not _is_empty(storage):
            raise BackupRefused("the file store already holds files; use --force to replace it")
    for entry in manifest.files:
        storage.put(entry["key"], (source / FILES / Path(*key_parts(entry["key"]))).read_bytes())
    database.parent.mkdir(parents=True, exist_ok=True)
    draft = database.with_name(f".{database.name}.restoring")
    shutil.copyfile(source / manifest.content["database"]["file"], draft)
    # A write-ahead log left from the replaced database would be replayed onto this one.
    for leftover in ("-wal", "-shm"):
        Path(f"{database}{leftover}").unlink(missing_ok=True)
    os.replace(draft, database)
    return manifest


def _holds_data(database: Path) -> bool:
    """Migrated but without a single user is still a fresh instance."""
    if not database.is_file() or database.stat().st_size == 0:
        return False
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            tables = inspect(connection).get_table_names()
            if "users" not in tables:
                return bool(tables)
            return connection.scalar(text("SELECT count(*) FROM users")) > 0
    finally:
        engine.dispose()


def _is_empty(storage: Storage) -> bool:
    if isinstance(storage, LocalStorage):
        return not storage.root.exists() or not any(
            path.is_file() for path in storage.root.rglob("*")
        )
    if isinstance(storage, S3Storage):
        listed = storage.client.list_objects_v2(Bucket=storage.bucket, MaxKeys=1)
        return not listed.get("Contents")
    return True
