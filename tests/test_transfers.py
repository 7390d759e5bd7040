"""Small, cacheable transfers: pages compressed when the browser asks, static files under
names that change with their content and kept by browsers for a year."""

import gzip
import re
import shutil
from pathlib import Path

import brotli
import pytest
from werkzeug.datastructures import ResponseCacheControl
from werkzeug.http import parse_cache_control_header

from fieldsvc.assets import fingerprint, served_bytes
from fieldsvc.auth.models import Role
from tests.proposals.broken_transmitters import BrokenTransmitters, build_broken_transmitters, send

STATIC = Path(__file__).resolve().parent.parent / "fieldsvc" / "static"


def _stylesheet_url(page: str) -> str:
    return re.search(r'<link rel="stylesheet" href="([^"]+)"', page)[1]


@pytest.mark.parametrize(
    ("encoding", "decompress"), [("br", brotli.decompress), ("gzip", gzip.decompress)]
)
def test_pages_arrive_compressed_in_the_encoding_the_browser_asks_for(
    client, signed_in, encoding, decompress
):
    signed_in(Role.SUPERVISOR)
    plain = client.get("/incidents/")
    response = client.get("/incidents/", headers={"Accept-Encoding": encoding})

    assert response.headers["Content-Encoding"] == encoding
    assert "Accept-Encoding" in response.headers["Vary"]
    page = decompress(response.data).decode()
    assert "Incidents" in page
    assert len(response.data) < len(plain.data) / 2


def test_brotli_is_preferred_when_the_browser_takes_both(client):
    response = client.get("/login", headers={"Accept-Encoding": "gzip, deflate, br"})

    assert response.headers["Content-Encoding"] == "br"


def test_pages_arrive_uncompressed_when_the_browser_does_not_ask(client):
    response = client.get("/login")

    assert "Content-Encoding" not in response.headers
    assert "Sign in" in response.get_data(as_text=True)


def test_a_static_url_in_a_page_names_its_content_and_is_kept_for_a_year(client):
    page = client.get("/login").get_data(as_text=True)
    url = _stylesheet_url(page)

    assert re.fullmatch(r"/static/css/app\.[0-9a-f]{12}\.css", url)
    response = client.get(url)
    assert response.status_code == 200
    assert response.data == served_bytes(STATIC / "css" / "app.css")
    cache = parse_cache_control_header(response.headers["Cache-Control"], cls=ResponseCacheControl)
    assert cache.public
    assert cache.max_age == 31536000
    assert cache.immutable
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("encoding", "decompress"), [("br", brotli.decompress), ("gzip", gzip.decompress)]
)
def test_stylesheets_and_scripts_arrive_compressed_when_asked(client, encoding, decompress):
    page = client.get("/login").get_data(as_text=True)
    url = _stylesheet_url(page)

    response = client.get(url, headers={"Accept-Encoding": encoding})

    assert response.headers["Content-Encoding"] == encoding
    assert decompress(response.data) == served_bytes(STATIC / "css" / "app.css")
    assert parse_cache_control_header(
        response.headers["Cache-Control"], cls=ResponseCacheControl
    ).immutable


def test_a_static_file_under_its_plain_name_is_revalidated_not_kept(client):
    response = client.get("/static/css/app.css")

    assert response.status_code == 200
    cache = parse_cache_control_header(response.headers["Cache-Control"], cls=ResponseCacheControl)
    assert cache.max_age == 0
    assert not cache.immutable


def test_a_changed_static_file_gets_a_new_url_and_the_old_one_still_answers(tmp_path):
    source = tmp_path / "static"
    shutil.copytree(STATIC, source)
    digested = tmp_path / "digested"
    before = fingerprint(source, digested)

    stylesheet = source / "css" / "app.css"
    stylesheet.write_text(stylesheet.read_text() + "\n.new-rule { color: red; }\n")
    after = fingerprint(source, digested)

    assert after["css/app.css"] != before["css/app.css"]
    assert after["js/incident-form.js"] == before["js/incident-form.js"]
    assert (digested / after["css/app.css"]).read_bytes() == served_bytes(stylesheet)
    assert (digested / before["css/app.css"]).is_file()
    assert brotli.decompress((digested / (after["css/app.css"] + ".br")).read_bytes()).endswith(
        b".new-rule{color:red}"
    )


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("js/outbox.js", "Saved on this tablet, will be sent: ${item.title}"),
        ("js/incident-form.js", "fieldsvc:"),
        ("css/app.css", ".flash-offline{"),
    ],
)
def test_scripts_and_stylesheets_are_sent_without_their_comments(name, shown):
    source = (STATIC / name).read_text()
    served = served_bytes(STATIC / name).decode()

    assert len(served) < 0.85 * len(source)
    assert "/*" not in served
    assert shown in served  # what a person reads is untouched


@pytest.fixture
def seed(app) -> BrokenTransmitters:
    return build_broken_transmitters()


def test_the_status_page_stays_uncached_when_compressed(seed, app):
    token = send(seed)
    customer = app.test_client()

    response = customer.get(f"/status/{token}", headers={"Accept-Encoding": "br"})

    assert response.headers["Content-Encoding"] == "br"
    assert response.headers["Cache-Control"] == "no-store"
    assert seed.incident.reference in brotli.decompress(response.data).decode()
    pdf = customer.get(
        f"/status/{token}/proposals/{seed.revision.id}.pdf", headers={"Accept-Encoding": "br"}
    )
    assert pdf.status_code == 200
    assert "Content-Encoding" not in pdf.headers
    assert pdf.headers["Cache-Control"] == "no-store"
    assert pdf.data.startswith(b"%PDF")
