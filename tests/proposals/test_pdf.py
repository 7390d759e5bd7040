"""The proposal PDF as the customer reads it: content, watermark, pages, the preview
route, the CLI command, and the fetcher that keeps files and the network out of it."""

import json
import os
import shutil
import socketserver
import subprocess
import threading
import xml.etree.ElementTree as ET
from decimal import Decimal
from io import BytesIO
from pathlib import Path

import pypdf
import pytest
import zxingcpp
from PIL import Image, ImageFile
from sqlalchemy import select

from fieldsvc.auth.models import Role
from fieldsvc.clock import to_local
from fieldsvc.config import ConfigurationError
from fieldsvc.demo import load_demo_data
from fieldsvc.extensions import db
from fieldsvc.incidents.photos import process_photo
from fieldsvc.proposals import pdf
from fieldsvc.proposals.models import LineKind, Proposal
from fieldsvc.proposals.services import (
    LineDraft,
    save_revision,
)
from fieldsvc.storage import get_storage
from tests.conftest import ARTIFACTS, missing
from tests.factories import PASSWORD
from tests.proposals.broken_transmitters import (
    PLAN,
    TOMORROW,
    BrokenTransmitters,
    approve,
    build_broken_transmitters,
)

# As long as the real links are: a base URL and a 43-character token.
STATUS_URL = (
    "https://service.northwind-test.example/status/q2-7Hw9Ks0pXcVbN1mZa4LtYe8Rg6UiOjPfD5hQx0c"
)
PDFAID = "{http://www.aiim.org/pdfa/ns/id/}"

ATTACKS = (
    '<img src="file:///etc/passwd"> <link rel="attachment" href="file:///etc/passwd"> '
    '<img src="http://127.0.0.1:9/x.png">'
)


@pytest.fixture
def seed(app) -> BrokenTransmitters:
    return build_broken_transmitters()


def _reader(data: bytes) -> pypdf.PdfReader:
    assert data.startswith(b"%PDF-")
    return pypdf.PdfReader(BytesIO(data))


def _text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in _reader(data).pages)


def _passwd_marker() -> str:
    return Path("/etc/passwd").read_text().split(":", 1)[0] + ":"


def _page_images(data: bytes, tmp_path: Path) -> list[Image.Image]:
    """Every page as a 100 dpi picture, as a phone camera would see the paper."""
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        missing("pdftoppm (poppler-utils) is not installed")
    source = tmp_path / "proposal.pdf"
    source.write_bytes(data)
    subprocess.run([pdftoppm, "-png", "-r", "100", source, tmp_path / "page"], check=True)
    return [Image.open(path) for path in sorted(tmp_path.glob("page*.png"))]


def _qr_codes(data: bytes, tmp_path: Path) -> list[str]:
    return [
        code.text for page in _page_images(data, tmp_path) for code in zxingcpp.read_barcodes(page)
    ]


def _links(data: bytes) -> list[str]:
    return [
        annotation.get_object()["/A"]["/URI"]
        for page in _reader(data).pages
        for annotation in page.get("/Annots", [])
        if "/URI" in annotation.get_object().get("/A", {})
    ]


def _embedded_data(data: bytes) -> dict:
    files = _reader(data).attachments
    assert list(files) == ["proposal.json"]
    (content,) = files["proposal.json"]
    return json.loads(content)


def _fonts(resources) -> list:
    """Every font the pages use, including those of forms (SVG drawings) they contain."""
    resources = resources.get_object()
    fonts = [font.get_object() for font in resources.get("/Font", {}).values()]
    for xobject in resources.get("/XObject", {}).values():
        xobject = xobject.get_object()
        if "/Resources" in xobject:
            fonts += _fonts(xobject["/Resources"])
    return fonts


def _photo_jpeg(width: int, height: int) -> bytes:
    """Noise compresses worst: a phone photo's size at its megapixels, and then some."""
    image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    buffer = BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


# --- what the customer reads -----------------------------------------------------------------


def test_the_pdf_says_who_pays_what_and_when_we_return(seed):
    revision = seed.revision

    data = pdf.render_proposal_pdf(revision, draft=True)

    reader = _reader(data)
    text = _text(data)
    assert len(reader.pages) >= 1
    assert reader.metadata.title == (
        f"Remediation proposal {seed.incident.reference}, proposal {seed.proposal.id} revision 1"
    )
    assert reader.metadata.author == "fieldsvc"
    assert "Northwind Pharma" in text
    assert f"{seed.proposal.id}, revision 1" in text
    assert "You pay USD 350.00" in text
    assert f"Return visit: {pdf.long_date(TOMORROW)} at 08:00" in text
    assert "Dana Whitfield" in text and "Tom Technician" in text
    # What is already done: the parts on their way and when they arrive.
    assert "PTX-400 pressure transmitter 3 Ordered" in text
    assert f"Ordered {pdf.long_date(TOMORROW)}" in text
    # Our goodwill: the spare and the waived labour, 1,180.00 in all.
    assert "Our goodwill: what we pay for you USD 1,180.00" in text
    assert "Acceptance" in text and "Signature" in text
    assert "page 1 of" in text


def test_the_pdf_never_shows_the_internal_cause(app):
    load_demo_data()
    db.session.commit()
    revision = db.session.scalars(select(Proposal)).one().current
    incident = revision.proposal.incident
    assert incident.claim_reference and incident.technician_statement

    text = _text(pdf.render_proposal_pdf(revision, draft=False))

    assert "Northwind Pharma" in text and "USD 350.00" in text
    for internal in (
        incident.claim_reference,
        "did not re-check",  # the technician's statement
        "40 bar",  # the cause description
    ):
        assert internal not in text


def test_a_draft_is_watermarked_until_a_supervisor_approves_it(seed):
    assert pdf.is_draft(seed.revision)
    draft = _text(pdf.render_proposal_pdf(seed.revision, draft=pdf.is_draft(seed.revision)))

    approve(seed)

    assert not pdf.is_draft(seed.revision)
    approved = _text(pdf.render_proposal_pdf(seed.revision, draft=pdf.is_draft(seed.revision)))
    assert "DRAFT" in draft
    assert "DRAFT" not in approved


def test_customer_text_is_printed_as_text_never_as_markup(seed):
    hostile = "<script>alert(1)</script> <b>bold</b> " + ATTACKS
    revision = save_revision(
        seed.revision,
        seed.draft(what_happened=hostile),
        actor=seed.technician,
        expected_version=seed.revision.version,
    )

    html = pdf.render_proposal_html(revision, draft=True)
    data = pdf.render_proposal_pdf(revision, draft=True)

    assert "<script>" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;bold&lt;/b&gt;" in html
    text = _text(data)
    assert "<script>alert(1)</script>" in text
    assert '<img src="file:///etc/passwd">' in text
    assert _passwd_marker() not in text
    assert list(_reader(data).attachments) == ["proposal.json"]  # and no file it named


def test_a_long_proposal_repeats_the_table_header_on_every_page(seed):
    lines = [
        LineDraft(LineKind.LABOUR, f"Calibration point {n}", Decimal("1"), Decimal("10.00"))
        for n in range(1, 81)
    ]
    revision = save_revision(
        seed.revision,
        seed.draft(lines=lines),
        actor=seed.technician,
        expected_version=seed.revision.version,
    )

    reader = _reader(pdf.render_proposal_pdf(revision, draft=True))

    pages = [page.extract_text() for page in reader.pages]
    assert len(pages) >= 2
    assert f"page 2 of {len(pages)}" in pages[1]
    assert "Calibration point 80" in "".join(pages)
    for page in pages[1:]:
        if "Calibration point" in page:
            assert "Unit price" in page and "You pay" in page
    # The acceptance block is whole on one page.
    signing = [n for n, page in enumerate(pages) if "Acceptance" in page or "Signature" in page]
    assert len(signing) == 1


def test_a_sent_pdf_prints_the_status_link_and_a_qr_code_that_opens_it(seed, tmp_path):
    data = pdf.render_proposal_pdf(seed.revision, draft=False, status_url=STATUS_URL)

    text = _text(data)
    assert "Follow this incident and accept this proposal online: scan the code or open" in text
    # A long link may wrap onto a second line; what is printed is the whole link.
    assert STATUS_URL in "".join(text.split())
    assert "is added when the proposal is sent" not in text
    assert set(_links(data)) == {STATUS_URL}  # one link area on each line it takes
    assert _qr_codes(data, tmp_path) == [STATUS_URL]
    # Drawn as vectors, not as a picture: sharp however it is printed or zoomed.
    assert not any(page.images for page in _reader(data).pages)


def test_a_preview_says_the_link_is_added_when_the_proposal_is_sent(seed, tmp_path):
    data = pdf.render_proposal_pdf(seed.revision, draft=True)

    text = _text(data)
    assert (
        "The link to follow this incident and accept this proposal online is added when the "
        "proposal is sent." in " ".join(text.split())
    )
    assert "/status/" not in text
    assert _links(data) == []
    assert _qr_codes(data, tmp_path) == []


def test_page_one_renders_to_a_picture_that_is_not_blank(seed, tmp_path):
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        missing("pdftoppm (poppler-utils) is not installed")
    source = tmp_path / "proposal.pdf"
    source.write_bytes(pdf.render_proposal_pdf(seed.revision, draft=True))
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / "proposal-page1"

    subprocess.run(
        [pdftoppm, "-png", "-r", "50", "-f", "1", "-l", "1", "-singlefile", source, target],
        check=True,
    )

    image = Image.open(target.with_suffix(".png")).convert("L")
    dark = sum(image.histogram()[:100])
    assert dark > 0.01 * image.width * image.height


def test_a_logo_outside_the_static_and_instance_folders_is_refused(app, seed):
    app.config["COMPANY_LOGO"] = "../../../../etc/passwd"
    with pytest.raises(ConfigurationError, match="FIELDSVC_COMPANY_LOGO"):
        pdf.render_proposal_pdf(seed.revision, draft=True)

    app.config["COMPANY_LOGO"] = "favicon.svg"
    assert "Northwind Pharma" in _text(pdf.render_proposal_pdf(seed.revision, draft=True))


def test_loading_weasyprint_leaves_truncated_photos_refused(app):
    # WeasyPrint turns this on when imported; photo uploads rely on it being off.
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


# --- PDF/A-3b with proposal.json inside -------------------------------------------------------


def test_the_pdf_carries_proposal_json_with_the_figures_it_prints(seed):
    revision = seed.revision

    data = pdf.render_proposal_pdf(revision, draft=True)

    embedded = _embedded_data(data)
    assert embedded == pdf.proposal_data(revision)
    assert {key: embedded[key] for key in ("incident", "proposal_id", "revision", "status")} == {
        "incident": seed.incident.reference,
        "proposal_id": seed.proposal.id,
        "revision": 1,
        "status": "draft",
    }
    assert (embedded["currency"], embedded["tax_rate"]) == ("USD", "0")
    assert embedded["issued_on"] == pdf.issued_on(revision, draft=True).isoformat()
    assert embedded["valid_until"] == revision.valid_until.isoformat()
    assert embedded["lines"][0] == {
        "kind": "part",
        "description": "PTX-400 pressure transmitter, replacing PT-107 and PT-117",
        "quantity": "2.00",
        "unit_price": "350.00",
        "discount_pct": "0.00",
        "customer_share_pct": "50.00",
        "list_value": "700.00",
        "discount": "0.00",
        "net": "700.00",
        "customer_pays": "350.00",
        "we_absorb": "350.00",
    }
    assert [line["kind"] for line in embedded["lines"]] == ["part", "goodwill", "labour"]
    assert embedded["totals"] == {
        "list_value": "1530.00",
        "discount": "0.00",
        "net": "1530.00",
        "customer_pays": "350.00",
        "we_absorb": "1180.00",
        "tax": "0.00",
        "customer_total": "350.00",
    }
    assert embedded["previous_revision_pdf_sha256"] is None
    # What we paid the supplier is ours: it is on no page, so it is not in the data either.
    assert "cost" not in json.dumps(embedded)


def test_proposal_json_is_the_same_bytes_each_time_and_names_the_previous_pdf(seed):
    approve(seed)
    first = seed.revision
    first.pdf_sha256 = "5e" * 32  # as sending revision 1 recorded it
    db.session.flush()
    second = save_revision(
        first,
        seed.draft(plan=PLAN + " Bring the spare."),
        actor=seed.technician,
        expected_version=first.version,
    )

    data = pdf.proposal_data(second)

    assert (data["revision"], data["previous_revision_pdf_sha256"]) == (2, "5e" * 32)
    assert list(data) == [
        "format",
        "format_version",
        "incident",
        "proposal_id",
        "revision",
        "status",
        "issued_on",
        "valid_until",
        "currency",
        "tax_rate",
        "lines",
        "totals",
        "previous_revision",
        "previous_revision_pdf_sha256",
    ]
    assert pdf.proposal_json(second) == pdf.proposal_json(second)
    assert json.loads(pdf.proposal_json(second)) == data


def test_the_json_is_an_associated_file_of_a_pdf_that_declares_pdf_a_3b(seed):
    data = pdf.render_proposal_pdf(seed.revision, draft=False, status_url=STATUS_URL)

    reader = _reader(data)
    catalog = reader.trailer["/Root"]
    (filespec_ref,) = catalog["/AF"]  # listed once
    names = catalog["/Names"]["/EmbeddedFiles"]["/Names"]
    assert names[0] == "proposal.json" and names[1] == filespec_ref
    filespec = filespec_ref.get_object()
    assert filespec["/AFRelationship"] == "/Data"
    assert filespec["/UF"] == "proposal.json"
    embedded = filespec["/EF"]["/F"].get_object()
    assert embedded["/Subtype"] == "/application/json"
    assert "/ModDate" in embedded["/Params"]
    # The XMP metadata says PDF/A-3, conformance level B.
    xmp = ET.fromstring(
        reader.xmp_metadata.stream.get_data().split(b"?>", 1)[1].rsplit(b"<?", 1)[0]
    )
    claims = [
        (d.get(f"{PDFAID}part"), d.get(f"{PDFAID}conformance"))
        for d in xmp.iter("{http://www.w3.org/1999/02/22-rdf-syntax-ns#}Description")
        if d.get(f"{PDFAID}part")
    ]
    assert claims == [("3", "B")]
    (intent,) = catalog["/OutputIntents"]
    assert intent["/S"] == "/GTS_PDFA1"
    assert intent["/DestOutputProfile"].get_object().get_data()[36:40] == b"acsp"  # an ICC profile
    assert "/ID" in reader.trailer
    fonts = [font for page in reader.pages for font in _fonts(page["/Resources"])]
    assert fonts
    for font in fonts:
        for described in font.get("/DescendantFonts", [font]):
            descriptor = described.get_object()["/FontDescriptor"]
            assert {"/FontFile", "/FontFile2", "/FontFile3"} & set(descriptor), font["/BaseFont"]


# --- photos ----------------------------------------------------------------------------------


def test_a_large_photo_is_in_the_pdf_at_print_size(app, seed, client):
    client.sign_in(seed.technician.email, PASSWORD)
    upload = client.post(
        f"/incidents/{seed.incident.id}/photos",
        data={
            "photos": (BytesIO(_photo_jpeg(3000, 2250)), "pt-107.jpg"),
            "photo_details-0-shown_to_customer": "y",
            "photo_details-0-caption": "",
        },
    )
    assert upload.status_code == 302, upload.get_data(as_text=True)
    (photo,) = seed.incident.attachments
    assert photo.size > 3_000_000

    response = client.get(f"/proposals/{seed.proposal.id}/revisions/1/proposal.pdf")

    data = response.data
    text = _text(data)
    assert "Photos" in text and f"Photo 1 · {pdf.long_date(to_local(photo.uploaded_at))}" in text
    (image,) = {image.name: image for image in _reader(data).pages[-1].images}.values()
    # Two photos a row on A4 at 150 dpi: about 480 pixels wide, not 4000.
    assert image.image.width < 600
    assert len(data) < photo.size / 10


def test_a_photo_of_another_incident_cannot_be_fetched(app, seed, make_incident):
    photo = process_photo(_photo_jpeg(64, 48), "theirs.jpg", max_bytes=10**6, max_pixels=10**6)
    other = make_incident(photos=[photo])
    ours = make_incident(actor=seed.technician, site=seed.incident.site, photos=[photo])
    db.session.commit()
    fetcher = pdf.app_fetcher(ours.attachments)
    theirs_url = pdf.BASE_URL + pdf.photo_path(other.attachments[0]).lstrip("/")
    ours_url = pdf.BASE_URL + pdf.photo_path(ours.attachments[0]).lstrip("/")

    with pytest.raises(pdf.RefusedURL):
        fetcher.fetch(theirs_url)
    served = fetcher.fetch(ours_url)

    assert served.read() == get_storage().get(ours.attachments[0].storage_key)
    recording = _Recording(Path(app.static_folder), {}, fetcher.stored, fetcher.storage)
    html = f'<p>photos</p><img src="{pdf.photo_path(other.attachments[0])}">'
    data = pdf.html_to_pdf(html, fetcher=recording)
    assert recording.refused == [theirs_url]
    assert not any(page.images for page in _reader(data).pages)


# --- only the app's own files reach the PDF -------------------------------------------------


class _Recording(pdf.AppOnlyFetcher):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.served: list[str] = []
        self.refused: list[str] = []

    def fetch(self, url, headers=None):
        try:
            response = super().fetch(url, headers)
        except pdf.RefusedURL:
            self.refused.append(url)
            raise
        self.served.append(url)
        return response


@pytest.fixture
def listener():
    """A TCP server on 127.0.0.1 that remembers whether anyone connected."""
    connections = []

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            connections.append(self.client_address)

    server = socketserver.TCPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", connections
    server.shutdown()
    server.server_close()


def test_the_fetcher_refuses_files_the_network_and_huge_data_urls(app, listener, monkeypatch):
    url, connections = listener
    # A smaller limit keeps the refused URL short in WeasyPrint's log; the rule is the same.
    monkeypatch.setattr(pdf, "MAX_DATA_URL_CHARS", 1000)
    huge = "data:image/png;base64," + "A" * 1000
    html = f"""<html><head><link rel="stylesheet" href="/static/css/pdf.css">
      <link rel="attachment" href="file:///etc/passwd">
      <link rel="attachment" href="/static/../../../../../etc/passwd">
      <link rel="stylesheet" href="{url}/x.css"></head>
      <body><p>hello</p><img src="file:///etc/passwd"><img src="{url}/x.png">
      <img src="https://example.com/x.png"><img src="/static/%2e%2e/%2e%2e/pyproject.toml">
      <img src="{huge}"></body></html>"""
    fetcher = _Recording(Path(app.static_folder))

    data = pdf.html_to_pdf(html, fetcher=fetcher)

    assert fetcher.served == [pdf.BASE_URL + "static/css/pdf.css"]
    assert sorted(fetcher.refused) == sorted(
        [
            f"{url}/x.css",
            "file:///etc/passwd",
            f"{url}/x.png",
            "https://example.com/x.png",
            pdf.BASE_URL + "static/%2e%2e/%2e%2e/pyproject.toml",
            huge,
            "file:///etc/passwd",
            pdf.BASE_URL + "etc/passwd",
        ]
    )
    assert connections == []
    text = _text(data)
    assert "hello" in text and _passwd_marker() not in text
    assert _reader(data).attachments == {}


# --- the preview page and the command --------------------------------------------------------


def test_the_team_previews_the_pdf_and_another_team_gets_404(
    app, seed, client, make_user, make_team
):
    url = f"/proposals/{seed.proposal.id}/revisions/1/proposal.pdf"
    client.sign_in(seed.technician.email, PASSWORD)

    response = client.get(url)

    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        f'inline; filename="{seed.incident.reference}-proposal-{seed.proposal.id}-rev1.pdf"'
    )
    assert "DRAFT" in _text(response.data)
    assert f'href="{url}"' in client.get(f"/proposals/{seed.proposal.id}").get_data(as_text=True)
    assert client.get(f"/proposals/{seed.proposal.id}/revisions/2/proposal.pdf").status_code == 404

    outsider = make_user(Role.SUPERVISOR, team=make_team(name="North crew"))
    db.session.commit()
    refused = app.test_client().sign_in(outsider.email, PASSWORD).get(url)
    assert refused.status_code == 404
    assert b"Northwind" not in refused.data


def test_the_command_writes_the_latest_proposal_and_names_an_unknown_reference(
    seed, runner, tmp_path
):
    approve(seed)
    output = tmp_path / "proposal.pdf"

    result = runner.invoke(
        args=["proposals", "pdf", seed.incident.reference, "--output", str(output)]
    )

    assert result.exit_code == 0, result.output
    text = _text(output.read_bytes())
    assert "Northwind Pharma" in text and "DRAFT" not in text

    unknown = runner.invoke(
        args=["proposals", "pdf", "INC-1999-99999", "--output", str(tmp_path / "x.pdf")]
    )
    assert unknown.exit_code == 1
    assert "no incident INC-1999-99999" in unknown.output
    assert not (tmp_path / "x.pdf").exists()


def test_the_command_says_when_an_incident_has_no_proposal(app, runner, tmp_path):
    seed = build_broken_transmitters(with_proposal=False)

    result = runner.invoke(
        args=["proposals", "pdf", seed.incident.reference, "--output", str(tmp_path / "x.pdf")]
    )

    assert result.exit_code == 1
    assert f"{seed.incident.reference} has no proposal" in result.output
