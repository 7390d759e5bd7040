"""Staff pages on a 390 px phone: every page fits the screen, with no sideways scrolling."""

from tests.browser.conftest import PHONE, sign_in, watched_page

STAFF_PAGES = [
    "/my-day",
    "/incidents/",
    "/incidents/1",
    "/proposals/1",
    "/approvals",
    "/dashboard",
    "/reports",
]


def test_a_supervisor_reads_every_staff_page_on_a_phone_without_scrolling_sideways(
    browser, live_server
):
    page, errors = watched_page(browser, live_server, PHONE)
    try:
        sign_in(page, "supervisor@example.com")
        wider = {}
        for path in STAFF_PAGES:
            page.goto(path)
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > PHONE["width"]:
                wider[path] = width
    finally:
        page.context.close()
    assert wider == {}, f"pages wider than the phone: {wider}"
    assert not errors, errors
