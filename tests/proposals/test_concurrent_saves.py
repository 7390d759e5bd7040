"""Two people saving the same draft at the same moment, as real concurrent requests on a
committed database: one save wins, the other is refused with what changed — never a
silent overwrite."""

import re
from datetime import timedelta

from markupsafe import escape
from sqlalchemy import func, select

from fieldsvc.clock import to_local
from fieldsvc.extensions import db
from fieldsvc.proposals.models import ProposalRevision
from tests.concurrency import run_together
from tests.factories import PASSWORD
from tests.proposals.broken_transmitters import (
    TODAY,
    build_broken_transmitters,
    editor_line_fields,
)

CONFLICT = "saved this proposal while you were editing it"


def _editor_form(page: str) -> tuple[str, str]:
    """The hidden version and seen_seq of the editor's form, as the browser holds them."""
    form = page[page.index('id="proposal-form"') :]
    version = re.search(r'name="version" type="hidden" value="(\d+)"', form)[1]
    seen_seq = re.search(r'name="seen_seq" type="hidden" value="(\d+)"', form)[1]
    return version, seen_seq


def test_two_saves_of_the_same_draft_at_once_keep_one_and_refuse_the_other(committed_app):
    with committed_app.app_context():
        seed = build_broken_transmitters()
        revision = seed.revision
        proposal_id = revision.proposal_id
        people = {user.name: user.email for user in (seed.technician, seed.supervisor)}
        form = {
            "what_happened": revision.what_happened,
            "already_done": revision.already_done,
            "contact_id": str(revision.contact_id),
            "return_visit_at": to_local(revision.return_visit_at).strftime("%Y-%m-%dT%H:%M"),
            "return_technician_id": str(revision.return_technician_id),
            "valid_until": revision.valid_until.isoformat(),
        } | editor_line_fields(revision)
        db.session.commit()

    clients, saves = {}, {}
    for name, email in people.items():
        client = committed_app.test_client()
        login = client.post("/login", data={"email": email, "password": PASSWORD})
        assert login.status_code == 302
        # Each opens the editor of the same draft...
        page = client.get(f"/proposals/{proposal_id}")
        assert page.status_code == 200
        version, seen_seq = _editor_form(page.get_data(as_text=True))
        assert version == "1"
        clients[name] = client
        # ...and types a different plan.
        saves[name] = form | {
            "version": version,
            "seen_seq": seen_seq,
            "plan": (
                f"{name} will return on 24 November at 08:00 to install and calibrate the two "
                "replacements."
            ),
        }

    names = list(clients)
    responses = dict(
        zip(
            names,
            run_together(
                [
                    lambda n=n: clients[n].post(f"/proposals/{proposal_id}", data=saves[n])
                    for n in names
                ]
            ),
            strict=True,
        )
    )

    assert sorted(r.status_code for r in responses.values()) == [302, 409]
    (winner,) = [n for n, r in responses.items() if r.status_code == 302]
    (loser,) = [n for n, r in responses.items() if r.status_code == 409]
    refusal = responses[loser].get_data(as_text=True)
    assert escape(f"{winner} {CONFLICT}") in refusal
    assert escape(saves[loser]["plan"]) in refusal  # what the loser typed is still in the form
    with committed_app.app_context():
        saved = db.session.scalars(select(ProposalRevision)).one()
        assert (saved.number, saved.version) == (1, 2)
        assert saved.plan == saves[winner]["plan"]
        assert saved.valid_until == TODAY + timedelta(days=14)
        assert db.session.scalar(select(func.count()).select_from(ProposalRevision)) == 1
