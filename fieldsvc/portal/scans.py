"""The scan of a signed copy, kept with an answer a supervisor recorded for the customer.

Accepted by what the bytes are, never by file name or declared type: a PDF that opens
and has pages (kept exactly as uploaded: it is the document the customer signed), or a
photo of the page (JPEG, PNG or WebP), re-encoded like incident photos so that what we
keep is plain pixels without the phone's metadata.
"""

import hashlib
import io
from dataclasses import dataclass

from PIL import Image
from pypdf import PdfReader

from fieldsvc.errors import FieldError
from fieldsvc.incidents.photos import FORMATS, PhotoRejected, process_photo
from fieldsvc.sizes import megabytes

PDF_MAGIC = b"%PDF-"


class ScanRejected(FieldError):
    """An upload that is not a readable scan; the message names the file and says why."""

    def __init__(self, message: str) -> None:
        super().__init__("scan", message)


@dataclass(frozen=True)
class Scan:
    data: bytes
    content_type: str
    extension: str
    sha256: str

    @property
    def size(self) -> int:
        return len(self.data)


def read_scan(data: bytes, filename: str, *, max_bytes: int, max_pixels: int) -> Scan:
    """Check that an upload is a PDF or a photo of the signed copy, of acceptable size."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()[:80] or "The file"
    if not data:
        raise ScanRejected(f"{name} is an empty file: choose the scan again.")
    if len(data) > max_bytes:
        raise ScanRejected(
            f"{name} is {megabytes(len(data))}; a scan can be at most {megabytes(max_bytes)}."
        )
    if data.startswith(PDF_MAGIC):
        _check_pdf(data, name)
        return Scan(data, "application/pdf", "pdf", hashlib.sha256(data).hexdigest())
    if not _is_image(data):
        raise ScanRejected(
            f"{name} is neither a PDF nor a photo (JPEG, PNG or WebP) of the signed copy."
        )
    try:
        photo = process_photo(data, filename, max_bytes=max_bytes, max_pixels=max_pixels)
    except PhotoRejected as rejected:
        raise ScanRejected(rejected.message) from rejected
    return Scan(photo.data, photo.content_type, photo.extension, photo.sha256)


def _check_pdf(data: bytes, name: str) -> None:
    try:
        # Lenient, as PDF readers are with what scanners write; what cannot be read fails.
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise ScanRejected(
                f"{name} is protected by a password; scan or save it without one so it can "
                "be read in a dispute."
            )
        pages = len(reader.pages)
    except ScanRejected:
        raise
    except Exception as error:
        # pypdf reports damage as PdfReadError, ValueError, KeyError, RecursionError...
        raise ScanRejected(
            f"{name} could not be read as a PDF: the file is damaged or incomplete."
        ) from error
    if pages == 0:
        raise ScanRejected(f"{name} is a PDF without pages.")


def _is_image(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS):
            return True
    except Exception:
        return False
