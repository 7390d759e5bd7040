"""Where uploaded files live: a local directory now, an S3-compatible bucket later.

Callers name files by key (`incidents/12/3f2a….jpg`) and never by path, so the
backend can change without touching them.
"""

import os
import tempfile
from pathlib import Path
from typing import Protocol

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from fieldsvc.extensions import db

EXTENSION_KEY = "fieldsvc.storage"


class Storage(Protocol):
    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes:
        """Raises FileNotFoundError when nothing is stored under the key."""
        ...

    def delete(self, key: str) -> None:
        """Deleting a missing key is fine: a retried delete must not fail."""
        ...

    def exists(self, key: str) -> bool: ...


class LocalStorage:
    """Files under one root directory, one file per key."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def put(self, key: str, data: bytes) -> None:
        """Write atomically, so a reader never sees half a file and a crash leaves the old one."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        # The rename itself is only durable once the directory entry is on disk.
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def _path(self, key: str) -> Path:
        """Keys come from our code, but refuse any that could reach outside the root."""
        parts = key.split("/")  # an absolute key has an empty first part
        if "\\" in key or "\0" in key or any(part in ("", ".", "..") for part in parts):
            raise ValueError(f"not a storage key: {key!r}")
        return self.root.joinpath(*parts)


def get_storage() -> Storage:
    """The app's storage, made on first use; tests or a deployment may put another there."""
    storage = current_app.extensions.get(EXTENSION_KEY)
    if storage is None:
        storage = LocalStorage(Path(current_app.config["UPLOAD_DIR"]))
        current_app.extensions[EXTENSION_KEY] = storage
    return storage


# --- files that belong to a database transaction ----------------------------------------

_WRITTEN = "fieldsvc.written_files"


def put_in_transaction(key: str, data: bytes) -> None:
    """Store a file whose row is being written: if the transaction (or the savepoint it
    is written in) rolls back, the file is deleted, so no file is left that no row names."""
    session = db.session()
    storage = get_storage()
    storage.put(key, data)
    transaction = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_WRITTEN, []).append((transaction, storage, key))


def _forget_written(session: Session, *args) -> None:
    session.info.pop(_WRITTEN, None)


def _remove_written(session: Session, rolled_back) -> None:
    kept = []
    for transaction, storage, key in session.info.pop(_WRITTEN, []):
        if _within(transaction, rolled_back):
            storage.delete(key)
        else:
            kept.append((transaction, storage, key))
    if kept:
        session.info[_WRITTEN] = kept


def _within(transaction, ancestor) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


event.listen(Session, "after_commit", _forget_written)
event.listen(Session, "after_soft_rollback", _remove_written)
