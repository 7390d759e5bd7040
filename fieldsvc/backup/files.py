"""The files the database names, with the SHA-256 it recorded for each, and copying the
local store into a bucket verified against them."""

import hashlib
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from fieldsvc.incidents.models import Attachment
from fieldsvc.portal.models import CustomerResponse
from fieldsvc.proposals.models import ProposalRevision
from fieldsvc.storage import Storage


@dataclass(frozen=True)
class StoredFile:
    key: str
    # None where the database records no hash (a photo's thumbnail, made from the photo).
    sha256: str | None
    what: str


def referenced_files(session: Session) -> list[StoredFile]:
    """Every file a row names: photos and their thumbnails, frozen PDFs, signed copies."""
    files: list[StoredFile] = []
    for key, thumbnail, sha256 in session.execute(
        select(Attachment.storage_key, Attachment.thumbnail_key, Attachment.sha256).order_by(
            Attachment.id
        )
    ):
        files += [StoredFile(key, sha256, "photo"), StoredFile(thumbnail, None, "thumbnail")]
    for key, sha256 in session.execute(
        select(ProposalRevision.pdf_key, ProposalRevision.pdf_sha256)
        .where(ProposalRevision.pdf_key.is_not(None))
        .order_by(ProposalRevision.id)
    ):
        files.append(StoredFile(key, sha256, "frozen PDF"))
    for key, sha256 in session.execute(
        select(CustomerResponse.scan_key, CustomerResponse.scan_sha256)
        .where(CustomerResponse.scan_key.is_not(None))
        .order_by(CustomerResponse.id)
    ):
        files.append(StoredFile(key, sha256, "signed copy"))
    return files


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class CopyReport:
    copied: int = 0
    already: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self, total: int) -> str:
        return (
            f"{total} files named by the database: {self.copied} copied, {self.already} "
            f"already in the bucket, {len(self.problems)} not copied"
        )


def copy_to_bucket(files: list[StoredFile], source: Storage, bucket) -> CopyReport:
    """Copy each file from `source` into `bucket` (an S3Storage), each verified by the
    SHA-256 the database recorded, and by the bucket's own checksum of what arrived.

    Resumable and idempotent: a file already in the bucket with the right hash is left
    alone, so a run that stopped half-way is simply run again.
    """
    report = CopyReport()
    for file in files:
        in_bucket = bucket.stored_sha256(file.key)
        if file.sha256 is not None and in_bucket == file.sha256:
            report.already += 1
            continue
        try:
            data = source.get(file.key)
        except FileNotFoundError:
            report.problems.append(f"{file.what} {file.key}: missing from the local store")
            continue
        actual = sha256_hex(data)
        if file.sha256 is not None and actual != file.sha256:
            report.problems.append(
                f"{file.what} {file.key}: its SHA-256 is {actual}, the database recorded "
                f"{file.sha256}; not copied"
            )
            continue
        if in_bucket == actual:  # a thumbnail copied before
            report.already += 1
            continue
        # The bucket refuses the put unless the bytes that arrived have this SHA-256.
        bucket.put(file.key, data)
        if bucket.stored_sha256(file.key) != actual:
            report.problems.append(f"{file.what} {file.key}: the bucket kept another SHA-256")
            continue
        report.copied += 1
    return report
