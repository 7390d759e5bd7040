"""The installable app: its manifest and icons, the service worker served from the site's
root with the digested app shell to precache (within 500 KB), the content policy that
lets both load, and the setting for how long a tablet keeps its copies."""

import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from fieldsvc import create_app
from fieldsvc.config import ConfigurationError
from fieldsvc.offline.views import SHELL_FILES
from tests.conftest import test_config as config_for

PRECACHE_BUDGET_BYTES = 500_000


@pytest.fixture(scope="module")
def shell_app(tmp_path_factory):
    # Nothing here reads the database: the shell is the same for everyone.
    folder = tmp_path_factory.mktemp("shell")
    return create_app(config_for(f"sqlite:///{folder / 'unused.sqlite3'}", OFFLINE_DAYS=5))


@pytest.fixture(scope="module")
def worker(shell_app):
    response = shell_app.test_client().get("/sw.js")
    assert response.status_code == 200
    first_line, _, source = response.get_data(as_text=True).partition("\n")
    settings = json.loads(first_line.removeprefix("const SETTINGS = ").removesuffix(";"))
    return response, settings, source


def test_the_worker_is_served_from_the_root_for_the_whole_site(worker):
    response, _, source = worker
    assert response.mimetype == "text/javascript"
    assert response.headers["Service-Worker-Allowed"] == "/"
    assert response.headers["Cache-Control"] == "max-age=300"
    assert 'addEventListener("fetch"' in source
    # The same for everyone, so a browser may reuse its copy whatever its cookies.
    assert "Set-Cookie" not in response.headers
    assert "cookie" not in response.headers.get("Vary", "").lower()
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_the_worker_precaches_the_digested_shell_within_500_kb(shell_app, worker):
    _, settings, _ = worker
    client = shell_app.test_client()
    total = 0
    for url in settings["shell"]:
        response = client.get(url)
        assert response.status_code == 200, url
        total += len(response.data)
        if url.startswith("/static/"):
            # The names the pages load: a new deploy's files are new URLs.
            assert re.search(r"\.[0-9a-f]{12}\.\w+$", url), url
    assert "/offline" in settings["shell"]
    assert any("/js/offline." in url for url in settings["shell"])
    assert total <= PRECACHE_BUDGET_BYTES, total


def test_the_worker_leaves_out_what_customers_and_printed_pages_load(worker):
    _, settings, _ = worker
    shell = " ".join(settings["shell"])
    for name in ("status", "pdf", "dispute_pack", "sw."):
        assert f"/{name}" not in shell and f"/js/{name}" not in shell and f"css/{name}" not in shell


def test_a_change_to_the_settings_or_files_changes_the_worker(shell_app, worker, tmp_path):
    response, settings, _ = worker
    assert settings["keepDays"] == 5
    other = create_app(
        config_for(f"sqlite:///{tmp_path / 'unused.sqlite3'}", OFFLINE_DAYS=6)
    ).test_client()
    assert other.get("/sw.js").data != response.data


def test_the_offline_page_names_no_one_and_says_how_long_copies_are_kept(shell_app):
    page = shell_app.test_client().get("/offline").get_data(as_text=True)
    assert "You are offline" in page
    assert "kept for at most 5 days" in page
    assert "Sign out" not in page


def test_the_manifest_installs_the_app_on_my_day_in_its_own_window(shell_app):
    client = shell_app.test_client()
    response = client.get("/manifest.webmanifest")
    assert response.mimetype == "application/manifest+json"
    manifest = response.get_json(force=True)
    assert manifest["start_url"] == "/my-day"
    assert manifest["scope"] == "/"
    assert manifest["display"] == "standalone"
    assert manifest["theme_color"] == "#1b2430"  # the top bar's --ink in app.css
    purposes = {(icon["sizes"], icon["purpose"]) for icon in manifest["icons"]}
    assert purposes == {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")}
    for icon in manifest["icons"]:
        image = client.get(icon["src"])
        assert image.status_code == 200
        with Image.open(io.BytesIO(image.data)) as opened:
            assert f"{opened.width}x{opened.height}" == icon["sizes"]


def test_the_content_policy_allows_the_worker_and_manifest_and_nothing_else_new(shell_app):
    policy = shell_app.test_client().get("/login").headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    # Both fall back to default-src, which stays the app's own origin only.
    assert directives["default-src"] == "'self'"
    assert directives.get("worker-src", "'self'") == "'self'"
    assert directives.get("manifest-src", "'self'") == "'self'"
    assert "script-src" not in directives and "connect-src" not in directives


def test_every_shell_file_the_worker_may_list_is_a_static_file_or_the_outboxs(shell_app):
    static = Path(shell_app.static_folder)
    missing = [name for name in SHELL_FILES if not (static / name).is_file()]
    assert missing in ([], ["js/outbox.js"])  # the outbox's script arrives with its branch


@pytest.mark.parametrize("days", ["0", "91"])
def test_a_keeping_period_outside_1_to_90_days_is_refused(monkeypatch, tmp_path, days):
    monkeypatch.setenv("FIELDSVC_OFFLINE_DAYS", days)
    with pytest.raises(ConfigurationError, match="FIELDSVC_OFFLINE_DAYS must be from 1 to 90"):
        create_app(config_for(f"sqlite:///{tmp_path / 'unused.sqlite3'}"))
