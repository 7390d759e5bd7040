"""Who opened the status page: "last opened" counts a person's browser, not a mail
scanner or link preview fetching the URL; the page keeps out of search indexes; a
customer who opens it too often is told, in their words, when to come back."""

import html
import re
from datetime import timedelta

from freezegun import freeze_time
from sqlalchemy import select

from fieldsvc.database import utcnow
from fieldsvc.extensions import db
from fieldsvc.portal.models import StatusLink
from tests.factories import PASSWORD


def _last_opened(client, seed) -> str:
    """What the staff read on the incident page about the link."""
    page = client.get(f"/incidents/{seed.incident.id}").get_data(as_text=True)
    return re.search(r"(last opened [^<]+|not opened yet)", page)[1].strip()


def _script_report(page: str) -> tuple[str, str]:
    """Where the page's script reports the opening, and the CSRF token it sends."""
    tag = re.search(r'<script src="[^"]*status-page(?:\.[0-9a-f]+)?\.js"[^>]*>', page)[0]
    url = html.unescape(re.search(r'data-opened-url="([^"]+)"', tag)[1])
    token = html.unescape(re.search(r'data-csrf-token="([^"]+)"', tag)[1])
    return url, token


def test_a_plain_fetch_like_a_mail_scanners_does_not_count_as_opened(seed, token, customer, client):
    for _ in range(3):
        assert customer.get(f"/status/{token}").status_code == 200

    assert db.session.scalar(select(StatusLink.last_used_at)) is None
    client.sign_in(seed.supervisor.email, PASSWORD)
    assert _last_opened(client, seed) == "not opened yet"


def test_the_pages_own_script_reports_the_opening_and_staff_see_it(seed, token, customer, client):
    url, csrf_token = _script_report(customer.get(f"/status/{token}").get_data(as_text=True))

    response = customer.post(url, csrf=False, headers={"X-CSRFToken": csrf_token})

    assert response.status_code == 204
    assert db.session.scalar(select(StatusLink.last_used_at)) is not None
    client.sign_in(seed.supervisor.email, PASSWORD)
    assert _last_opened(client, seed).startswith("last opened ")


def test_an_opening_reported_without_the_pages_token_is_refused(seed, token, customer):
    url, _csrf_token = _script_report(customer.get(f"/status/{token}").get_data(as_text=True))
    scanner = customer.application.test_client()  # no session: never saw the page

    assert customer.post(url, csrf=False).status_code == 400
    assert scanner.post(url, csrf=False, headers={"X-CSRFToken": "forged"}).status_code == 400
    assert customer.post("/status/not-a-token/opened").status_code == 404
    assert db.session.scalar(select(StatusLink.last_used_at)) is None


def test_the_status_page_asks_search_engines_not_to_index_it(token, customer):
    response = customer.get(f"/status/{token}")

    assert "noindex" in response.headers["X-Robots-Tag"]


def test_a_rate_limited_customer_gets_a_page_in_their_words_with_retry_after(app, token, customer):
    app.config["STATUS_PAGE_RATE_LIMIT"] = "3 per minute"

    codes = [customer.get(f"/status/{token}").status_code for _ in range(4)]
    response = customer.get(f"/status/{token}")

    assert codes == [200, 200, 200, 429]
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= 60
    page = response.get_data(as_text=True)
    assert "Please wait a moment" in page
    assert "your link still works" in page
    assert "Sign in" not in page and "sign-in" not in page
    assert response.headers["Cache-Control"] == "no-store"


def test_a_customer_who_reloads_the_page_can_answer_within_the_forms_hour(seed, token, customer):
    with freeze_time(utcnow()) as clock:
        customer.get(f"/status/{token}")
        clock.tick(timedelta(minutes=50))
        page = customer.get(f"/status/{token}").get_data(as_text=True)  # read it again
        clock.tick(timedelta(minutes=15))

        response = customer.post(
            f"/status/{token}/answer/accept",
            csrf=False,
            data={
                "csrf_token": re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[
                    1
                ],
                "accept-revision_id": seed.revision.id,
                "accept-pdf_sha256": seed.revision.pdf_sha256,
                "accept-full_name": "Dana Whitfield",
            },
        )

    assert response.status_code == 303
    assert "Accepted by Dana Whitfield" in customer.get(response.location).get_data(as_text=True)
