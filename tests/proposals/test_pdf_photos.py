"""Photos in the proposal PDF: only those chosen to be shown to the customer, with their
captions as text; they follow the acceptance block, which keeps its page however many
there are; and a sent revision keeps the photos (and the bytes) it was sent with."""

import shutil
import subprocess
from io import BytesIO
from pathlib import Path

import pypdf
import pytest
from PIL import Image, ImageDraw
from pypdf.generic import ContentStream

from fieldsvc.extensions import db
from fieldsvc.incidents import services as incidents
from fieldsvc.incidents.photos import process_photo
from fieldsvc.incidents.services import PhotoChoice
from fieldsvc.proposals import pdf
from fieldsvc.proposals.sending import frozen_pdf
from fieldsvc.proposals.services import save_revision
from tests.conftest import ARTIFACTS, missing
from tests.factories import PASSWORD
from tests.proposals.broken_transmitters import BrokenTransmitters, build_broken_transmitters, send

ACCEPTANCE = "I accept proposal"


@pytest.fixture
def seed(app) -> BrokenTransmitters:
    return build_broken_transmitters()


def photo(n: int, size=(640, 480)):
    """A photo that says which one it is, in a colour of its own."""
    image = Image.new("RGB", size, ((n * 67) % 256, (n * 131) % 256, (n * 29) % 256))
    ImageDraw.Draw(image).text((20, 20), f"photo {n}", fill="white")
    out = BytesIO()
    image.save(out, "JPEG")
    return process_photo(out.getvalue(), f"IMG_{n:04d}.jpg", max_bytes=10**7, max_pixels=10**7)


def attach(seed, *choices: PhotoChoice):
    attached = incidents.attach_photos(
        seed.incident,
        [photo(n) for n in range(1, len(choices) + 1)],
        actor=seed.technician,
        choices=choices,
    )
    db.session.commit()
    return attached


def pages(data: bytes) -> list[pypdf.PageObject]:
    return list(pypdf.PdfReader(BytesIO(data)).pages)


def text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pages(data))


def page_of(data: bytes, words: str) -> int:
    (found,) = [n for n, page in enumerate(pages(data)) if words in page.extract_text()]
    return found


def images_per_page(data: bytes) -> list[int]:
    """How many images each page draws (the pages share one list of images, so what a
    page lists is not what it shows)."""
    return [_drawn(page.get_contents(), page["/Resources"], page.pdf) for page in pages(data)]


def _drawn(contents, resources, reader) -> int:
    if contents is None:
        return 0
    xobjects = resources.get_object().get("/XObject", {})
    drawn = 0
    for operands, operator in ContentStream(contents, reader).operations:
        if operator != b"Do":
            continue
        xobject = xobjects[operands[0]].get_object()
        if xobject["/Subtype"] == "/Image":
            drawn += 1
        elif "/Resources" in xobject:  # a form: what it draws is drawn here
            drawn += _drawn(xobject, xobject["/Resources"], reader)
    return drawn


def preview(seed) -> bytes:
    return pdf.render_proposal_pdf(seed.revision, draft=pdf.is_draft(seed.revision))


def test_only_the_photos_shown_to_the_customer_are_in_the_pdf_with_their_captions(seed):
    attach(
        seed,
        PhotoChoice(True, "PT-107: the cracked diaphragm"),
        PhotoChoice(False, "Test rig regulator at 40 bar"),
        PhotoChoice(True),
    )

    data = preview(seed)

    printed = text(data)
    assert "Photo 1 · PT-107: the cracked diaphragm" in printed
    assert "Photo 2" in printed  # the second photo shown, numbered as the customer reads it
    assert "regulator at 40 bar" not in printed
    assert "Photo 3" not in printed
    assert sum(images_per_page(data)) == 2


def test_no_photo_is_in_the_pdf_until_someone_chooses_to_show_it(seed):
    attach(seed, PhotoChoice(), PhotoChoice())

    data = preview(seed)

    assert "Photos" not in text(data)
    assert sum(images_per_page(data)) == 0


def test_a_photo_kept_for_us_cannot_even_be_fetched_by_the_render(app, seed):
    shown, kept = attach(seed, PhotoChoice(True), PhotoChoice(False))
    db.session.refresh(seed.incident)
    fetcher = pdf.revision_fetcher(seed.revision)

    with pytest.raises(pdf.RefusedURL):
        fetcher.fetch(pdf.BASE_URL + pdf.photo_path(kept).lstrip("/"))
    assert fetcher.fetch(pdf.BASE_URL + pdf.photo_path(shown).lstrip("/")).read()


def test_a_caption_is_printed_as_text_never_as_markup(seed):
    attach(seed, PhotoChoice(True, '<img src="file:///etc/passwd"> <b>bold</b> & co'))

    data = preview(seed)

    assert '<img src="file:///etc/passwd"> <b>bold</b> & co' in " ".join(text(data).split())
    assert sum(images_per_page(data)) == 1


def test_the_acceptance_block_keeps_its_page_and_every_photo_follows_it(seed, tmp_path):
    without = preview(seed)
    accepted_on = page_of(without, ACCEPTANCE)
    attach(seed, *(PhotoChoice(True, f"Caption of photo no. {n:02d}") for n in range(1, 13)))
    db.session.refresh(seed.incident)

    data = preview(seed)

    assert page_of(data, ACCEPTANCE) == accepted_on
    per_page = images_per_page(data)
    # Nothing but the offer up to the acceptance block; the photos from the next page on,
    # all twelve, each with its caption on the page where it is.
    assert per_page[: accepted_on + 1] == [0] * (accepted_on + 1)
    assert per_page[accepted_on + 1] > 0
    assert sum(per_page) == 12
    for n in range(1, 13):
        on = page_of(data, f"Caption of photo no. {n:02d}")
        assert on > accepted_on
        assert per_page[on] > 0
    _save_pages(data, tmp_path, "proposal-12-photos")


def test_the_acceptance_block_keeps_its_page_with_one_photo(seed):
    accepted_on = page_of(preview(seed), ACCEPTANCE)
    attach(seed, PhotoChoice(True, "The one photo"))

    data = preview(seed)

    assert page_of(data, ACCEPTANCE) == accepted_on
    assert page_of(data, "The one photo") == accepted_on + 1


def test_a_sent_revision_keeps_the_photos_and_bytes_it_was_sent_with(app, client, seed):
    first, second = attach(seed, PhotoChoice(True, "Sent caption"), PhotoChoice(False))
    send(seed)
    sent = seed.revision
    stored = frozen_pdf(sent)
    assert "Sent caption" in text(stored)

    # Later the team hides the sent photo, shows the other and re-captions both.
    for attachment, choice in (
        (first, PhotoChoice(False, "Hidden now")),
        (second, PhotoChoice(True, "Shown now")),
    ):
        incidents.choose_photo_for_customer(attachment, choice, actor=seed.technician)
    db.session.commit()

    client.sign_in(seed.supervisor.email, PASSWORD)
    again = client.get(f"/proposals/{seed.proposal.id}/revisions/{sent.number}/proposal.pdf")
    assert again.data == stored
    assert [(p.attachment, p.caption) for p in pdf.customer_photos(sent)] == [
        (first, "Sent caption")
    ]
    # The next revision shows what is chosen now.
    revised = save_revision(
        sent, seed.draft(), actor=seed.technician, expected_version=sent.version
    )
    db.session.commit()
    assert revised.number == sent.number + 1
    printed = text(pdf.render_proposal_pdf(revised, draft=True))
    assert "Shown now" in printed
    assert "Sent caption" not in printed and "Hidden now" not in printed


def _save_pages(data: bytes, tmp_path: Path, name: str) -> None:
    """The pages as pictures in tests/artifacts/, to look at."""
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        missing("pdftoppm (poppler-utils) is not installed")
    source = tmp_path / f"{name}.pdf"
    source.write_bytes(data)
    ARTIFACTS.mkdir(exist_ok=True)
    subprocess.run([pdftoppm, "-png", "-r", "50", source, ARTIFACTS / name], check=True)
