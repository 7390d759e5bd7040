"""The remediation proposal as the customer receives it: a PDF rendered by WeasyPrint
from `templates/pdf/proposal.html` and the print stylesheet `static/css/pdf.css`.

WeasyPrint fetches every URL the HTML names (images, stylesheets, attachments), and
its default fetcher happily embeds `file:///etc/passwd` or calls an internal address.
So it only ever gets `AppOnlyFetcher`: the app's own static files and the few files
the render names explicitly (the logo, the photos shown to the customer), nothing else.

The PDF is written as PDF/A-3b (an archival PDF that may carry files) with the
proposal as data, `proposal.json`, inside it: the customer's systems can read the
figures without retyping them, and each revision names the PDF of the one before.
"""

import json
import mimetypes
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import segno
from flask import current_app, render_template
from PIL import ImageFile
from weasyprint import HTML, Attachment
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse

from fieldsvc.clock import reader_zone, reading_in, site_zone, to_local
from fieldsvc.config import ConfigurationError
from fieldsvc.incidents.models import Attachment as Photo
from fieldsvc.parts.models import PartOrderStatus
from fieldsvc.proposals import services
from fieldsvc.proposals.models import ProposalRevision, RevisionStatus
from fieldsvc.proposals.photos import customer_photos
from fieldsvc.sizes import MB
from fieldsvc.storage import Storage, get_storage
from fieldsvc.template_filters import long_date

# Importing WeasyPrint sets this Pillow switch for the whole process, and then a cut-off
# photo upload would be accepted as whole (incidents/photos.py relies on Pillow refusing
# it). A damaged image in a PDF is better left out than half drawn, so switch it back.
ImageFile.LOAD_TRUNCATED_IMAGES = False

# Relative URLs in the template resolve against this; `.invalid` never resolves in DNS,
# so nothing under it can reach the network even if the fetcher were bypassed.
BASE_URL = "https://fieldsvc.invalid/"
LOGO_URL = BASE_URL + "logo"
MAX_DATA_URL_CHARS = MB


def list_associated_files_once(document, pdf) -> None:
    """WeasyPrint 70.0 lists each attachment twice in the catalog's /AF array (a WeasyPrint
    bug fixed after 70.0): keep one of each. Drop this once a newer one is locked."""
    if "AF" in pdf.catalog:
        pdf.catalog["AF"][:] = list(dict.fromkeys(pdf.catalog["AF"]))


# Every proposal PDF is written with these options, by the app and by the benchmark.
PDF_OPTIONS: dict[str, Any] = {
    "pdf_variant": "pdf/a-3b",
    "finisher": list_associated_files_once,
    # Photos are embedded at most this sharp: plenty for paper, and a 12-megapixel
    # phone photo of several megabytes takes tens of kilobytes in the PDF.
    "dpi": 150,
    "jpeg_quality": 80,
}
DATA_FILENAME = "proposal.json"
DATA_FORMAT = "fieldsvc-proposal"
DATA_FORMAT_VERSION = 1

# A revision in these statuses was approved by a supervisor; before that it is a draft.
APPROVED_STATUSES = frozenset(
    {
        RevisionStatus.APPROVED,
        RevisionStatus.SENT,
        RevisionStatus.CUSTOMER_CHANGES,
        RevisionStatus.ACCEPTED,
        RevisionStatus.DECLINED,
        RevisionStatus.EXPIRED,
    }
)
# What the customer is told has already been done about parts.
PLACED_ORDER_STATUSES = frozenset(
    {
        PartOrderStatus.ORDERED,
        PartOrderStatus.SHIPPED,
        PartOrderStatus.RECEIVED,
        PartOrderStatus.INSTALLED,
    }
)


class RefusedURL(ValueError):
    """A URL the PDF may not load. WeasyPrint logs it and renders without the resource."""


@dataclass(frozen=True)
class StoredFile:
    """A file in the app's storage that the PDF may show: one of the incident's photos."""

    key: str
    content_type: str


class AppOnlyFetcher(URLFetcher):
    """Serves the static folder, the named `files` and the named `stored` files under
    BASE_URL; refuses the rest."""

    def __init__(
        self,
        static_folder: Path,
        files: dict[str, Path] | None = None,
        stored: dict[str, StoredFile] | None = None,
        storage: Storage | None = None,
    ) -> None:
        # fail_on_errors=False: a refused URL is skipped, not a failed render.
        super().__init__(allowed_protocols=("data",), allow_redirects=False)
        self.static_folder = static_folder.resolve()
        self.files = files or {}
        self.stored = stored or {}
        self.storage = storage

    def fetch(self, url: str, headers=None) -> URLFetcherResponse:
        if url.startswith("data:"):
            if len(url) > MAX_DATA_URL_CHARS:
                raise RefusedURL("data: URL over 1 MB")
            return super().fetch(url, headers)
        if url.startswith(BASE_URL):
            wanted = unquote(urlsplit(url).path)
            stored = self.stored.get(wanted)
            if stored is not None and self.storage is not None:
                return URLFetcherResponse(
                    url, self.storage.get(stored.key), headers={"Content-Type": stored.content_type}
                )
            path = self._local_file(wanted)
            if path is not None:
                content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                return URLFetcherResponse(
                    url, path.read_bytes(), headers={"Content-Type": content_type}
                )
        raise RefusedURL(f"not one of the app's own files: {url[:200]}")

    def _local_file(self, path: str) -> Path | None:
        if path in self.files:
            return self.files[path]
        if not path.startswith("/static/"):
            return None
        candidate = (self.static_folder / path.removeprefix("/static/")).resolve()
        # resolve() has followed any "..": the file must still be inside the folder.
        if candidate.is_relative_to(self.static_folder) and candidate.is_file():
            return candidate
        return None


def app_fetcher(photos: Iterable[Photo] = ()) -> AppOnlyFetcher:
    """The fetcher of one render: the static files, the logo, and the given `photos` (the
    ones the document shows, no other) at their `photo_path`."""
    logo = company_logo()
    files = {urlsplit(LOGO_URL).path: logo} if logo else {}
    stored = {
        photo_path(photo): StoredFile(photo.storage_key, photo.content_type) for photo in photos
    }
    return AppOnlyFetcher(Path(current_app.static_folder), files, stored, get_storage())


def revision_fetcher(revision: ProposalRevision) -> AppOnlyFetcher:
    """The fetcher of a revision's PDF: it can load only the photos the revision shows."""
    return app_fetcher(shown.attachment for shown in customer_photos(revision))


def photo_path(photo: Photo) -> str:
    """Where the template asks for a photo; only `app_fetcher` maps it to the file."""
    return f"/photos/{photo.id}"


# Without one, WeasyPrint makes a FontConfiguration for every render: Fontconfig loads its
# configuration and scans the fonts again, and Pango gets a new font map. Their C memory is
# not all given back, so a worker grew by about 0.22 MiB a render without end; one per
# process, reused, keeps it flat (benchmarks/pdf_memory.py) and saves the scan. It only
# holds system fonts: the PDF stylesheet has no @font-face, which would add a font to it
# for good on each render. Pango's font map is not thread-safe, hence the lock (gunicorn's
# sync workers have one thread; `flask run` has several).
_fonts: FontConfiguration | None = None
render_lock = threading.Lock()


def font_config() -> FontConfiguration:
    """This process's fonts, made on first use; use them while holding `render_lock`."""
    global _fonts
    if _fonts is None:
        _fonts = FontConfiguration()
    return _fonts


def html_to_pdf(
    html: str,
    *,
    fetcher: AppOnlyFetcher | None = None,
    attachments: list[Attachment] | None = None,
) -> bytes:
    """Render HTML to PDF/A-3b bytes, loading only what `AppOnlyFetcher` serves."""
    document = HTML(string=html, base_url=BASE_URL, url_fetcher=fetcher or app_fetcher())
    with render_lock:
        return document.write_pdf(
            attachments=attachments or [], font_config=font_config(), **PDF_OPTIONS
        )


def is_draft(revision: ProposalRevision) -> bool:
    """Not (yet) approved: the PDF carries a DRAFT watermark."""
    if revision.status is RevisionStatus.SUPERSEDED:
        # Superseded after approval or before it; only an approval records its meaning.
        return revision.approval_meaning is None
    return revision.status not in APPROVED_STATUSES


def render_proposal_html(
    revision: ProposalRevision, *, draft: bool, status_url: str | None = None
) -> str:
    """The proposal as HTML for WeasyPrint. `status_url` is the customer's status page
    (printed with its QR code); None before sending, when no link exists yet."""
    proposal = revision.proposal
    incident = proposal.incident
    priced, totals = services.price(revision)
    orders = [order for order in incident.part_orders if order.status in PLACED_ORDER_STATUSES]
    # Every time in the customer's zone, the zone's abbreviation with each clock time; a
    # sent PDF is frozen as bytes, so the zone it was written in stays with it.
    with reading_in(site_zone(incident.site)):
        return _render_proposal_html(
            revision, priced, totals, orders, draft=draft, status_url=status_url
        )


def _render_proposal_html(revision, priced, totals, orders, *, draft, status_url) -> str:
    proposal = revision.proposal
    incident = proposal.incident
    return render_template(
        "pdf/proposal.html",
        revision=revision,
        proposal=proposal,
        incident=incident,
        priced=priced,
        totals=totals,
        tax_rate=current_app.config["TAX_RATE"],
        orders=orders,
        issued_on=issued_on(revision, draft=draft),
        visit=revision.return_visit_at,
        draft=draft,
        paper_size=current_app.config["PAPER_SIZE"].lower(),
        logo_url=LOGO_URL if company_logo() else None,
        long_date=long_date,
        status_url=status_url,
        status_qr=status_qr_data_url(status_url) if status_url else None,
        photos=[
            (
                photo_path(shown.attachment),
                shown,
                to_local(shown.attachment.uploaded_at, reader_zone()).date(),
            )
            for shown in customer_photos(revision)
        ],
    )


def render_proposal_pdf(
    revision: ProposalRevision, *, draft: bool, status_url: str | None = None
) -> bytes:
    """The proposal PDF of one revision (PDF/A-3b with proposal.json inside),
    watermarked DRAFT when `draft`, with the status page link when one is given."""
    html = render_proposal_html(revision, draft=draft, status_url=status_url)
    return html_to_pdf(
        html,
        fetcher=revision_fetcher(revision),
        attachments=[data_attachment(proposal_json(revision))],
    )


def status_qr_data_url(status_url: str) -> str:
    """The status page link as a QR code: an SVG `data:` URL, drawn as vectors, so the
    fetcher needs nothing new. Level M still reads with a crease or a coffee stain."""
    return segno.make(status_url, error="m").svg_data_uri(omitsize=True)


def issued_on(revision: ProposalRevision, *, draft: bool) -> date:
    """The proposal's date: its approval once approved, else its last change."""
    issued = revision.reviewed_at if not draft and revision.reviewed_at else revision.updated_at
    return to_local(
        issued or revision.created_at, site_zone(revision.proposal.incident.site)
    ).date()


# --- proposal.json ---------------------------------------------------------------------------


def proposal_data(revision: ProposalRevision) -> dict[str, Any]:
    """The revision as data, as the PDF prints it: what proposal.json holds. Amounts are
    strings ("350.00") so no reader turns them into floats; never our costs."""
    proposal = revision.proposal
    priced, totals = services.price(revision)
    # The revision sent before this one: the PDF the customer had, which this replaces.
    previous = next(
        (r for r in reversed(proposal.revisions) if r.number < revision.number and r.pdf_sha256),
        None,
    )
    return {
        "format": DATA_FORMAT,
        "format_version": DATA_FORMAT_VERSION,
        "incident": proposal.incident.reference,
        "proposal_id": proposal.id,
        "revision": revision.number,
        "status": revision.status.value,
        "issued_on": issued_on(revision, draft=is_draft(revision)).isoformat(),
        "valid_until": revision.valid_until.isoformat() if revision.valid_until else None,
        "currency": current_app.config["CURRENCY"],
        "tax_rate": str(current_app.config["TAX_RATE"]),
        "lines": [
            {
                "kind": p.line.kind.value,
                "description": p.line.description,
                "quantity": _fixed(p.line.quantity),
                "unit_price": _fixed(p.line.unit_price),
                "discount_pct": _fixed(p.line.discount_pct),
                "customer_share_pct": _fixed(p.line.customer_share_pct),
                "list_value": _fixed(p.amounts.list_value),
                "discount": _fixed(p.amounts.discount),
                "net": _fixed(p.amounts.net),
                "customer_pays": _fixed(p.amounts.customer_pays),
                "we_absorb": _fixed(p.amounts.we_absorb),
            }
            for p in priced
        ],
        "totals": {
            "list_value": _fixed(totals.list_value),
            "discount": _fixed(totals.discount),
            "net": _fixed(totals.net),
            "customer_pays": _fixed(totals.customer_pays),
            "we_absorb": _fixed(totals.we_absorb),
            "tax": _fixed(totals.tax),
            "customer_total": _fixed(totals.customer_total),
        },
        "previous_revision": previous.number if previous else None,
        "previous_revision_pdf_sha256": previous.pdf_sha256 if previous else None,
    }


def proposal_json(revision: ProposalRevision) -> bytes:
    """proposal.json: `proposal_data` as UTF-8, keys in the order written there."""
    text = json.dumps(proposal_data(revision), indent=2, ensure_ascii=False)
    return (text + "\n").encode()


def data_attachment(data: bytes) -> Attachment:
    """proposal.json as a PDF/A-3 associated file: "Data" is what the pages show."""
    return Attachment(
        string=data,
        name=DATA_FILENAME,
        description="The proposal as data: lines, amounts and totals",
        relationship="Data",
    )


def _fixed(value: Decimal) -> str:
    # The columns hold two decimals; a value read back has them, a value just assigned
    # may not ("2" vs "2.00"). Printed the same either way; nothing is rounded here.
    return f"{value:.2f}"


def pdf_filename(revision: ProposalRevision) -> str:
    proposal = revision.proposal
    return f"{proposal.incident.reference}-proposal-{proposal.id}-rev{revision.number}.pdf"


def company_logo() -> Path | None:
    """FIELDSVC_COMPANY_LOGO as a file, only from the static or instance folder."""
    setting = current_app.config["COMPANY_LOGO"]
    if not setting:
        return None
    folders = [Path(current_app.static_folder).resolve(), Path(current_app.instance_path).resolve()]
    for folder in folders:
        path = (folder / setting).resolve()
        if path.is_relative_to(folder) and path.is_file():
            if path.suffix.lower() not in (".png", ".svg"):
                raise ConfigurationError("FIELDSVC_COMPANY_LOGO must be a .png or .svg file")
            return path
    raise ConfigurationError(
        f"FIELDSVC_COMPANY_LOGO {setting!r} is not a file in the static or instance folder"
    )
