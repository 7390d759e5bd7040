"""Every page of the demo, as the technician, the supervisor, the admin and the customer
see it, on a 390 px phone, a 768 px tablet and a 1280 px laptop: nothing scrolls
sideways (neither the page nor a table inside it), every form control has a name a
screen reader can say, and no two elements share an id (a label would point at the
wrong one). A screenshot of each page at each width goes to tests/artifacts/tour/."""

import re

from playwright.sync_api import expect

from fieldsvc import create_app
from tests.browser.conftest import TABLET, serve_demo, sign_in, watched_page
from tests.conftest import ARTIFACTS
from tests.conftest import test_config as app_config

SCREENS = [(390, 844), (768, 1024), (1280, 800)]

# What a person can read there, in one round trip of the page's own script.
READ_PAGE = """() => {
  const problems = [];
  const W = window.innerWidth;
  if (document.documentElement.scrollWidth > W) {
    problems.push(`the page is ${document.documentElement.scrollWidth} px wide`);
  }
  for (const el of document.querySelectorAll('body *')) {
    const overflow = getComputedStyle(el).overflowX;
    if ((overflow === 'auto' || overflow === 'scroll') && el.scrollWidth > el.clientWidth + 1) {
      problems.push(`<${el.tagName.toLowerCase()} class="${el.className}"> scrolls sideways`
        + ` (${el.scrollWidth} px in ${el.clientWidth} px)`);
    }
  }
  const seen = {};
  for (const el of document.querySelectorAll('[id]')) seen[el.id] = (seen[el.id] || 0) + 1;
  for (const [id, n] of Object.entries(seen)) if (n > 1) problems.push(`id "${id}" ${n} times`);
  const text = (el) => (el ? el.textContent.replace(/\\s+/g, ' ').trim() : '');
  for (const el of document.querySelectorAll('input, select, textarea, button')) {
    if (el.type === 'hidden') continue;
    const byIds = (el.getAttribute('aria-labelledby') || '').split(/\\s+/)
      .map((id) => text(document.getElementById(id))).join('');
    const name = [...(el.labels || [])].map(text).join('') || el.getAttribute('aria-label')
      || byIds || el.title || (el.tagName === 'BUTTON' ? text(el) : '')
      || (['submit', 'button'].includes(el.type) ? el.value : '');
    if (!name.trim()) problems.push(`${el.outerHTML.slice(0, 100)} has no accessible name`);
  }
  for (const label of document.querySelectorAll('label[for]')) {
    if (!document.getElementById(label.htmlFor)) {
      problems.push(`label "${text(label)}" is for #${label.htmlFor}, which is not there`);
    }
  }
  return problems;
}"""

# Everything that answers a GET but is a file or data, not a page a person reads.
NOT_PAGES = re.compile(
    r"static|pdf|csv|export|photo|signed_copy|equipment_options|logout|manifest|service_worker|bundle"
    r"|api_reference\.|api_incidents\.|api_proposals\.|api_catalogue\.|api_imports\."
    r"|openapi_json|api_docs\.asset"
    r"|^ops\.|outbox\.token"
    # An upload's preview: tests/browser/test_import_preview.py reads it at every width.
    r"|imports\.preview"
)

TECHNICIAN_PAGES = [
    "/",
    "/my-day",
    "/settings",
    "/settings/api-tokens",
    "/api/v1/docs/",
    "/incidents/",
    "/incidents/1",
    "/incidents/1/edit",
    "/incidents/new",
    "/incidents/phone",
    "/incidents/1/part-orders/new",
    "/part-orders/1/edit",
    "/proposals/1",
    "/proposals/1/revisions/1",
]
SUPERVISOR_PAGES = [
    "/approvals",
    "/dashboard",
    "/reports",
    "/incidents/1/dispute-pack",
    "/proposals/2/approve",
    "/proposals/1/approve",
]
ADMIN_PAGES = [
    "/customers/",
    "/customers/1",
    "/customers/1/edit",
    "/customers/new",
    "/sites/",
    "/sites/1",
    "/sites/1/edit",
    "/sites/new",
    "/contacts/",
    "/contacts/1",
    "/contacts/1/edit",
    "/contacts/new",
    "/equipment/",
    "/equipment/1",
    "/equipment/1/edit",
    "/equipment/new",
    "/parts/",
    "/parts/1",
    "/parts/1/edit",
    "/parts/new",
    "/suppliers/",
    "/suppliers/1",
    "/suppliers/1/edit",
    "/suppliers/new",
    "/users/",
    "/users/1",
    "/users/1/edit",
    "/users/new",
    "/teams/",
    "/teams/1",
    "/teams/1/edit",
    "/teams/new",
    "/approval-rules/",
    "/approval-rules/1",
    "/approval-rules/1/edit",
    "/approval-rules/new",
    "/api-tokens",
    "/admin/e-mails/failed",
    "/imports/",
    "/admin/webhooks/",
    "/admin/webhooks/new",
    "/admin/webhooks/1",
]


def test_the_tour_visits_every_page_the_app_has():
    app = create_app(app_config("sqlite://"))
    anyones = ["/login", "/offline", "/status/1"]
    toured = {
        re.sub(r"/\d+", "/<id>", path)
        for path in TECHNICIAN_PAGES + SUPERVISOR_PAGES + ADMIN_PAGES + anyones
    }
    pages = {
        re.sub(r"<[^>]+>", "<id>", rule.rule)
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and not NOT_PAGES.search(rule.endpoint)
    }
    assert pages - toured == set()


def test_every_page_fits_every_screen_and_names_every_control(browser, tmp_path_factory, live_smtp):
    shots = ARTIFACTS / "tour"
    shots.mkdir(parents=True, exist_ok=True)
    with serve_demo(tmp_path_factory, live_smtp, "tour") as base_url:
        page, errors = watched_page(browser, base_url, TABLET)
        found: dict[str, list[str]] = {}

        def visit(who: str, path: str, name: str = "") -> None:
            response = page.goto(path)
            assert response.status == 200, f"{who} {path}: {response.status}"
            for width, height in SCREENS:
                page.set_viewport_size({"width": width, "height": height})
                for problem in page.evaluate(READ_PAGE):
                    found.setdefault(f"{who} {name or path} at {width} px", []).append(problem)
                name = name or re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "home"
                page.screenshot(path=shots / f"{who}-{name}-{width}.png", full_page=True)

        try:
            visit("anyone", "/login")
            visit("anyone", "/offline")  # what the app shows offline for a page not kept
            sign_in(page, "tech@example.com")
            for path in TECHNICIAN_PAGES:
                visit("technician", path)
            # A draft of the author's own: the editor while it can still change.
            page.goto("/proposals/1")
            page.get_by_role("button", name="Duplicate as a new draft").click()
            expect(page).to_have_url(re.compile(r"/proposals/2$"))
            visit("technician", "/proposals/2")
            page.get_by_role("button", name="Submit for approval").click()
            expect(page.get_by_text("Submitted for approval.")).to_be_visible()
            page.get_by_role("button", name="Sign out").click()

            sign_in(page, "supervisor@example.com")
            for path in SUPERVISOR_PAGES:
                visit("supervisor", path)
            page.goto("/proposals/1")
            page.get_by_role("button", name="Send the proposal").click()
            expect(page.get_by_text("Waiting for the customer's answer.")).to_be_visible()
            visit("supervisor", "/proposals/1")
            page.get_by_role("button", name="Sign out").click()

            sign_in(page, "admin@example.com")
            for path in ADMIN_PAGES:
                visit("admin", path)
            page.get_by_role("button", name="Sign out").click()

            body = live_smtp.messages[-1].get_body(preferencelist=("plain",)).get_content()
            (link,) = re.findall(re.escape(base_url) + r"(/status/\S+)", body)
            visit("customer", link, "status-page")
            page.get_by_label("Your full name").fill("Dana Whitfield")
            page.get_by_role("button", name="I accept this proposal").click()
            expect(page.get_by_text("Thank you: you accepted the proposal.")).to_be_visible()

            # Resolved: the staff's incident page and the customer's page, survey open.
            sign_in(page, "supervisor@example.com")
            page.goto("/incidents/1")
            page.get_by_label("New status").select_option(label="Resolved")
            page.get_by_label("Note", exact=True).fill("Both transmitters replaced.")
            page.get_by_role("button", name="Change status").click()
            expect(page.get_by_text("is now resolved")).to_be_visible()
            visit("supervisor", "/incidents/1", "incident-resolved")
            page.get_by_role("button", name="Sign out").click()
            visit("customer", link, "status-page-resolved")
            expect(page.get_by_role("heading", name="How did we do?")).to_be_visible()
        finally:
            page.context.close()
    assert not found, "\n".join(
        f"{where}: {problem}" for where, problems in found.items() for problem in problems
    )
    assert not errors, errors
