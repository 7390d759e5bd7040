"""Photos on the customer's status page: the ones the offer was sent with, captions as
text, and nothing else — a photo kept for us answers exactly like one that does not exist."""

from io import BytesIO

import pytest
from PIL import Image

from fieldsvc.extensions import db
from fieldsvc.incidents import services as incidents
from fieldsvc.incidents.photos import process_photo
from fieldsvc.incidents.services import PhotoChoice
from fieldsvc.storage import get_storage
from tests.proposals.broken_transmitters import send


def photo(colour: str):
    out = BytesIO()
    Image.new("RGB", (400, 300), colour).save(out, "JPEG")
    return process_photo(out.getvalue(), "IMG_0001.jpg", max_bytes=10**7, max_pixels=10**7)


@pytest.fixture
def photos(seed):
    """Photo 1 shown with a caption, photo 2 kept for us; then the offer is sent."""
    shown, kept = incidents.attach_photos(
        seed.incident,
        [photo("red"), photo("blue")],
        actor=seed.technician,
        choices=[PhotoChoice(True, "PT-107 <b>cracked</b> & leaking"), PhotoChoice(False, "Rig")],
    )
    db.session.commit()
    return shown, kept


@pytest.fixture
def sent(seed, photos) -> str:
    return send(seed)


def url(token: str, attachment, size: str = "") -> str:
    return f"/status/{token}/photos/{attachment.id}" + (f"/{size}" if size else "")


def test_the_page_shows_the_photos_the_offer_was_sent_with_and_their_captions_as_text(
    customer, photos, sent
):
    shown, kept = photos

    page = customer.get(f"/status/{sent}").get_data(as_text=True)

    assert "Photo 1</strong> · PT-107 &lt;b&gt;cracked&lt;/b&gt; &amp; leaking" in page
    assert url(sent, shown, "thumbnail") in page
    assert url(sent, kept) not in page and "Rig" not in page
    full = customer.get(url(sent, shown))
    assert full.status_code == 200
    assert full.data == get_storage().get(shown.storage_key)
    assert full.headers["Cache-Control"] == "no-store"
    # Named for the customer, not after the camera's or technician's file name.
    assert "IMG_0001" not in full.headers["Content-Disposition"]
    thumbnail = customer.get(url(sent, shown, "thumbnail"))
    assert thumbnail.status_code == 200 and thumbnail.mimetype == "image/jpeg"
    assert Image.open(BytesIO(thumbnail.data)).size[0] <= 320


@pytest.mark.parametrize("size", ["", "thumbnail"])
def test_a_photo_kept_for_us_gets_the_same_404_as_one_that_does_not_exist(
    customer, photos, sent, size
):
    _shown, kept = photos
    unknown = customer.get(f"/status/{sent}/photos/{kept.id + 1000}" + (f"/{size}" if size else ""))
    wrong_token = customer.get(url("x" * 43, kept, size))

    refused = customer.get(url(sent, kept, size))

    assert refused.status_code == unknown.status_code == wrong_token.status_code == 404
    assert refused.data == unknown.data == wrong_token.data
    assert get_storage().get(kept.storage_key) not in refused.data


def test_later_choices_change_nothing_the_customer_of_a_sent_offer_sees(
    customer, seed, photos, sent
):
    shown, kept = photos
    before = customer.get(f"/status/{sent}").get_data(as_text=True)
    pdf_before = customer.get(f"/status/{sent}/proposals/{seed.revision.id}.pdf").data

    # The team hides the sent photo, re-captions it, and shows the one kept for us.
    incidents.choose_photo_for_customer(shown, PhotoChoice(False, "New"), actor=seed.technician)
    incidents.choose_photo_for_customer(kept, PhotoChoice(True, "Rig"), actor=seed.technician)
    db.session.commit()

    after = customer.get(f"/status/{sent}").get_data(as_text=True)
    assert "PT-107 &lt;b&gt;cracked&lt;/b&gt; &amp; leaking" in after
    assert url(sent, kept, "thumbnail") not in after and "New" not in after
    assert customer.get(url(sent, kept)).status_code == 404
    assert customer.get(url(sent, shown)).status_code == 200
    assert customer.get(f"/status/{sent}/proposals/{seed.revision.id}.pdf").data == pdf_before
    assert _photos_section(after) == _photos_section(before)


def test_an_offer_sent_without_photos_shows_none(customer, seed):
    incidents.attach_photos(seed.incident, [photo("green")], actor=seed.technician)
    db.session.commit()
    token = send(seed)

    page = customer.get(f"/status/{token}").get_data(as_text=True)

    assert "<h3>Photos</h3>" not in page
    assert f"/status/{token}/photos/" not in page


def _photos_section(page: str) -> str:
    start = page.index("<h3>Photos</h3>")
    return page[start : page.index("</ul>", start)]
