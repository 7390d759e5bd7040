"""Photos kept in an S3 bucket, as a person sees them in Chromium: the app checks who asks,
then the browser loads the photo from the bucket by a presigned URL, which the pages'
Content-Security-Policy allows."""

import io
from collections.abc import Iterator

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.browser.conftest import TABLET, serve_demo, watched_page
from tests.conftest import ARTIFACTS

WIDTHS = (390, 768, 1280)


@pytest.fixture(scope="module")
def bucket_server(tmp_path_factory, live_smtp, s3_server) -> Iterator[tuple[str, str]]:
    settings = s3_server.config(s3_server.new_bucket())
    with serve_demo(
        tmp_path_factory, live_smtp, "bucket", **settings, STORAGE_READS="redirect"
    ) as base_url:
        yield base_url, s3_server.endpoint_url


def test_a_photo_added_on_the_tablet_shows_from_the_bucket(browser, bucket_server, tmp_path):
    base_url, endpoint = bucket_server
    ARTIFACTS.mkdir(exist_ok=True)
    photo = tmp_path / "pt-107.jpg"
    buffer = io.BytesIO()
    Image.new("RGB", (1200, 900), (160, 60, 60)).save(buffer, "JPEG")
    photo.write_bytes(buffer.getvalue())
    page, errors = watched_page(browser, base_url, TABLET)
    from_bucket: list[str] = []
    # On the context: the tablet's service worker may be the one fetching the thumbnail.
    page.context.on(
        "response",
        lambda response: (
            from_bucket.append(response.url)
            if response.url.startswith(endpoint) and response.ok
            else None
        ),
    )
    try:
        page.goto("/login")
        page.get_by_label("E-mail").fill("tech@example.com")
        page.get_by_label("Password").fill("demo")
        page.get_by_role("button", name="Sign in").click()
        page.goto("/incidents/1")
        photos = page.locator("#photos")
        photos.locator("input[type=file]:not([capture])").set_input_files(str(photo))
        photos.get_by_role("button", name="Upload").click()
        expect(page.get_by_text("1 photo(s) added")).to_be_visible()

        thumbnail = page.locator("#photos img").first
        thumbnail.scroll_into_view_if_needed()
        expect(thumbnail).to_have_js_property("complete", True)
        assert thumbnail.evaluate("img => img.naturalWidth") > 0
        assert any("thumb.jpg" in url for url in from_bucket), from_bucket
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            page.locator("#photos").screenshot(path=ARTIFACTS / f"bucket-photos-{width}.png")
    finally:
        page.context.close()
    assert not errors, f"browser console errors: {errors}"
