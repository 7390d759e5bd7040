"""Render the demo proposal N times through the app (the preview route: sign-in check,
queries, template, proposal.json, WeasyPrint) and N times with WeasyPrint alone on the
very same HTML string, with the same write_pdf options (PDF/A-3b, proposal.json
attached, dpi and JPEG quality: `pdf.PDF_OPTIONS`); print both medians and their
ratio; then send the proposal (the PDF is frozen) and time downloading the frozen
bytes through the app, as staff and as the customer. Targets: ratio <= 1.15 and a
frozen download <= 10 ms.

    .venv/bin/python benchmarks/pdf_render.py [N]
"""

import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import flask_migrate
from sqlalchemy import select
from weasyprint import HTML

from fieldsvc import create_app
from fieldsvc.auth.models import Role, User
from fieldsvc.demo import DEMO_PASSWORD, load_demo_data
from fieldsvc.extensions import db
from fieldsvc.proposals import pdf, sending
from fieldsvc.proposals.models import Proposal


def medians_ms(actions, times: int) -> list[float]:
    """Median duration of each action; they take turns, so a process that slows down
    over many renders (WeasyPrint's caches grow) slows them all alike."""
    durations = [[] for _ in actions]
    for _ in range(times):
        for action, spent in zip(actions, durations, strict=True):
            gc.collect()  # not the next action's cost: collect the last one's garbage
            start = time.perf_counter()
            action()
            spent.append((time.perf_counter() - start) * 1000)
    return [statistics.median(spent) for spent in durations]


def main(times: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        database = f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": database,
                "WTF_CSRF_ENABLED": False,
                "SERVER_NAME": "bench",
                "UPLOAD_DIR": str(Path(folder) / "uploads"),
                "STATUS_PAGE_RATE_LIMIT": "100000 per minute",
            }
        )
        with app.app_context():
            flask_migrate.upgrade()
            load_demo_data()
            db.session.commit()
            revision = db.session.scalars(select(Proposal)).one().current
            url = f"/proposals/{revision.proposal_id}/revisions/{revision.number}/proposal.pdf"
            html = pdf.render_proposal_html(revision, draft=pdf.is_draft(revision))
            data = pdf.proposal_json(revision)
            fetcher = pdf.revision_fetcher(revision)
            db.session.remove()

        client = app.test_client()
        client.post("/login", data={"email": "tech@example.com", "password": DEMO_PASSWORD})

        def through_the_app() -> None:
            response = client.get(url)
            assert response.status_code == 200 and response.data.startswith(b"%PDF-")

        def weasyprint_alone() -> None:
            # An Attachment can be written once, so each render makes its own, as the app does;
            # and the same fonts, loaded once per process, as the app does.
            HTML(string=html, base_url=pdf.BASE_URL, url_fetcher=fetcher).write_pdf(
                attachments=[pdf.data_attachment(data)],
                font_config=pdf.font_config(),
                **pdf.PDF_OPTIONS,
            )

        # One of each first: fonts and the stylesheet parser warm up once per process.
        through_the_app()
        weasyprint_alone()
        app_ms, direct_ms = medians_ms([through_the_app, weasyprint_alone], times)
        staff_ms, customer_ms = _frozen_downloads(app, client, url)
    print(f"renders        {times}")
    print(f"app path       {app_ms:.1f} ms (median)")
    print(f"weasyprint     {direct_ms:.1f} ms (median)")
    print(f"frozen PDF     {staff_ms:.1f} ms staff, {customer_ms:.1f} ms customer (median of 200)")
    print(f"ratio {app_ms / direct_ms:.2f}")


def _frozen_downloads(app, client, url: str) -> tuple[float, float]:
    """Send the demo proposal (a supervisor freezes its PDF), then download the frozen
    bytes as staff (the same URL now serves them) and from the customer's status page."""
    with app.app_context():
        revision = db.session.scalars(select(Proposal)).one().current
        supervisor = db.session.scalar(select(User).where(User.role == Role.SUPERVISOR))
        sent = sending.send_revision(revision, sender=supervisor, expected_version=revision.version)
        db.session.commit()  # the e-mail stays queued: no mail server is contacted
        frozen = sending.frozen_pdf(revision)
        customer_url = f"{urlsplit(sent.status_url).path}/proposals/{revision.id}.pdf"
        db.session.remove()
    customer = app.test_client()

    def as_staff() -> None:
        assert client.get(url).data == frozen

    def as_customer() -> None:
        assert customer.get(customer_url).data == frozen

    as_staff()
    as_customer()
    return medians_ms([as_staff, as_customer], 200)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
