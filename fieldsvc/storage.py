"""Where uploaded files live: a local directory (the embedded default) or an
S3-compatible bucket (AWS S3, MinIO, Ceph, R2, SeaweedFS), chosen by FIELDSVC_STORAGE.

Callers name files by key (`incidents/12/3f2a….jpg`) and never by path, so the
backend can change without touching them.
"""

import base64
import hashlib
import mimetypes
import os
import tempfile
import urllib.parse
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from flask import Response, current_app, redirect
from sqlalchemy import event
from sqlalchemy.orm import Session

from fieldsvc.extensions import CONTENT_SECURITY_POLICY, db

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
        return self.root.joinpath(*key_parts(key))


def key_parts(key: str) -> list[str]:
    """Keys come from our code, but refuse any that could reach outside a root (a local
    directory) or name what a directory could not hold (a bucket mirrored to disk)."""
    parts = key.split("/")  # an absolute key has an empty first part
    if "\\" in key or "\0" in key or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"not a storage key: {key!r}")
    return parts


def content_type_of(key: str) -> str:
    """What a stored file is, from its key's extension (.jpg, .png, .pdf)."""
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


def sha256_base64(data: bytes) -> str:
    """The SHA-256 as S3 checksums spell it (base64 of the digest)."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


# Objects are read in pieces of this size when streamed through the app.
CHUNK_BYTES = 256 * 1024


class S3Storage:
    """Objects in one bucket of an S3-compatible store, one object per key.

    Every put carries the content type and the object's SHA-256, which the server checks
    against what arrived (a corrupted upload is refused, not stored) and keeps, so a copy
    can be verified later without downloading it.
    """

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "S3Storage":
        """Credentials from FIELDSVC_S3_ACCESS_KEY_ID/SECRET_ACCESS_KEY when set, else
        boto3's usual chain (AWS_* variables, ~/.aws, the instance's role)."""
        options: dict[str, Any] = {
            "endpoint_url": config["S3_ENDPOINT_URL"] or None,
            "region_name": config["S3_REGION"] or None,
            "config": Config(
                s3={"addressing_style": config["S3_ADDRESSING_STYLE"]},
                signature_version="s3v4",
                retries={"mode": "standard"},
            ),
        }
        if config["S3_ACCESS_KEY_ID"]:
            options["aws_access_key_id"] = config["S3_ACCESS_KEY_ID"]
            options["aws_secret_access_key"] = config["S3_SECRET_ACCESS_KEY"]
        return cls(boto3.session.Session().client("s3", **options), config["S3_BUCKET"])

    def put(self, key: str, data: bytes) -> None:
        """One PUT is atomic in S3: a reader sees the old object or the new, never half."""
        key_parts(key)
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType=content_type_of(key),
            ChecksumSHA256=sha256_base64(data),
        )

    def get(self, key: str) -> bytes:
        body = self._get_object(key)["Body"]
        try:
            return body.read()
        finally:
            body.close()

    def stream(self, key: str) -> tuple[Iterator[bytes], int]:
        """The object in pieces, and its length: for a response that never holds it whole."""
        answer = self._get_object(key)
        body = answer["Body"]

        def pieces() -> Iterator[bytes]:
            try:
                yield from body.iter_chunks(CHUNK_BYTES)
            finally:
                body.close()

        return pieces(), answer["ContentLength"]

    def delete(self, key: str) -> None:
        key_parts(key)
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def stored_sha256(self, key: str) -> str | None:
        """The SHA-256 (hex) the bucket keeps for the object; None when nothing is stored
        under the key or it was stored without one."""
        head = self._head(key)
        checksum = head.get("ChecksumSHA256") if head else None
        # A multipart upload's checksum is of its parts ("…-3"), not of the whole object.
        if not checksum or "-" in checksum:
            return None
        return base64.b64decode(checksum).hex()

    def url(self, key: str, *, content_type: str, disposition: str, seconds: int) -> str:
        """A presigned GET for the object that expires after `seconds`, answered with our
        content type and file name rather than whatever the object was stored with."""
        key_parts(key)
        return self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentType": content_type,
                "ResponseContentDisposition": disposition,
                "ResponseCacheControl": "private, no-store",
            },
            ExpiresIn=seconds,
        )

    def _head(self, key: str) -> dict[str, Any] | None:
        key_parts(key)
        try:
            return self.client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except ClientError as error:
            if _missing(error):
                return None
            raise

    def _get_object(self, key: str) -> dict[str, Any]:
        key_parts(key)
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if _missing(error):
                raise FileNotFoundError(f"nothing stored under {key!r}") from error
            raise


def _missing(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound")


def make_storage(config: Mapping[str, Any]) -> Storage:
    """The storage a configuration names (FIELDSVC_STORAGE)."""
    if config["STORAGE"] == "s3":
        return S3Storage.from_config(config)
    return LocalStorage(Path(config["UPLOAD_DIR"]))


def content_security_policy(config: Mapping[str, Any]) -> dict[str, str]:
    """The pages' policy: with redirected reads, photos load from the bucket's origin."""
    policy = dict(CONTENT_SECURITY_POLICY)
    if config["STORAGE"] == "s3" and config["STORAGE_READS"] == "redirect":
        url = S3Storage.from_config(config).url(
            "origin", content_type="image/jpeg", disposition="inline", seconds=1
        )
        origin = urllib.parse.urlsplit(url)
        bucket = f"{origin.scheme}://{origin.netloc}"
        policy["img-src"] += f" {bucket}"
        # The service worker fetches thumbnails for the tablet's offline copy, following
        # the redirect: its fetches answer to connect-src.
        policy["connect-src"] = policy.get("connect-src", "'self'") + f" {bucket}"
    return policy


def get_storage() -> Storage:
    """The app's storage, made on first use; tests or a deployment may put another there."""
    storage = current_app.extensions.get(EXTENSION_KEY)
    if storage is None:
        storage = make_storage(current_app.config)
        current_app.extensions[EXTENSION_KEY] = storage
    return storage


def stored_file_response(
    key: str, *, content_type: str, disposition: str, headers: Mapping[str, str] | None = None
) -> Response:
    """A stored file as the answer to a request the caller has already authorized.

    From a bucket, the file is streamed through the app (FIELDSVC_STORAGE_READS=stream),
    or the browser is sent to a presigned URL that expires within a minute (=redirect).
    """
    storage = get_storage()
    if isinstance(storage, S3Storage) and current_app.config["STORAGE_READS"] == "redirect":
        url = storage.url(
            key,
            content_type=content_type,
            disposition=disposition,
            seconds=current_app.config["S3_URL_SECONDS"],
        )
        response = redirect(url, 302)
        # The URL expires: a cached redirect would lead to a refusal.
        response.headers["Cache-Control"] = "private, no-store"
        return response
    if isinstance(storage, S3Storage):
        pieces, length = storage.stream(key)
        response = Response(pieces, mimetype=content_type, direct_passthrough=True)
        response.content_length = length
    else:
        response = Response(storage.get(key), mimetype=content_type)
    response.headers["Content-Disposition"] = disposition
    response.headers.update(headers or {})
    return response


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
