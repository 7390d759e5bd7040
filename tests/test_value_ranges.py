"""Every value has a domain range, held in the form, the service and the database: the
inputs that once bricked a record are refused with a message, nothing is stored, and
the pages that would have failed still open."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import flask_migrate
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from fieldsvc import create_app
from fieldsvc.audit.models import AuditEvent
from fieldsvc.errors import DomainError, FieldError
from fieldsvc.extensions import db
from fieldsvc.incidents import services as incident_services
from fieldsvc.incidents.models import FollowUp, Incident
from fieldsvc.parts.models import PartOrder, PartOrderLine
from fieldsvc.proposals import services
from fieldsvc.proposals.models import ProposalLine, ProposalRevision
from fieldsvc.ranges import MAX_PROPOSAL_LINES, MONEY, QUANTITY
from tests import postgres
from tests.conftest import test_config as config_for
from tests.factories import PASSWORD
from tests.proposals.test_workflow import (
    OFFER_LINES,
    Story,
    arrange_offer,
    arrange_story,
    count,
    editor_form,
    page_text,
)


@pytest.fixture
def story(app, request) -> Story:
    return arrange_story(request)


@pytest.fixture
def technician(client, story):
    client.sign_in(story.technician.email, PASSWORD)
    return story.technician


def stored() -> tuple[int, ...]:
    db.session.expire_all()
    return tuple(
        count(model)
        for model in (AuditEvent, Incident, ProposalRevision, ProposalLine, PartOrder, FollowUp)
    )


# --- the proposal that bricked its incident ------------------------------------------------


def test_a_quantity_and_price_of_1e15_are_refused_next_to_the_line_and_every_page_still_opens(
    client, story, technician
):
    proposal = arrange_offer(story)
    url = f"/proposals/{proposal.id}"
    line_id = proposal.current.lines[0].part_order_line_id
    lines = [OFFER_LINES[0] | {"quantity": "1e15", "unit_price": "1e15"}, *OFFER_LINES[1:]]
    before = stored()

    response = client.post(url, data=editor_form(story, line_id, client.get(url), lines=lines))

    assert response.status_code == 400
    text_shown = page_text(response)
    assert "Line 1: Quantity can be at most 100,000." in text_shown
    assert "Line 1: Unit price can be at most 10,000,000." in text_shown
    assert 'value="1e15"' in response.get_data(as_text=True)  # the typed text is kept
    assert stored() == before
    for page in (
        url,
        f"/incidents/{story.incident.id}",
        f"/proposals/{proposal.id}/revisions/1/proposal.pdf",
    ):
        assert client.get(page).status_code == 200


def test_the_service_refuses_a_line_beyond_the_ranges_whatever_calls_it(story):
    proposal = arrange_offer(story)
    revision = proposal.current
    huge = services.LineDraft(
        kind=revision.lines[0].kind,
        description="Too many",
        quantity=Decimal("1e15"),
        unit_price=Decimal("1e15"),
    )
    draft = services.RevisionDraft(lines=[huge])

    with pytest.raises(FieldError, match="Line 1: Quantity can be at most 100,000"):
        services.save_revision(
            revision, draft, actor=story.technician, expected_version=revision.version
        )


def test_lines_that_add_up_past_the_largest_amount_are_refused_and_the_largest_total_fits(
    story,
):
    proposal = arrange_offer(story)
    revision = proposal.current

    def line(quantity: str, price: str) -> services.LineDraft:
        return services.LineDraft(
            kind=revision.lines[1].kind,
            description="Calibration",
            quantity=Decimal(quantity),
            unit_price=Decimal(price),
        )

    too_much = services.RevisionDraft(lines=[line("100000", "100"), line("1", "0.01")])
    with pytest.raises(FieldError, match="more than a proposal can hold"):
        services.save_revision(
            revision, too_much, actor=story.technician, expected_version=revision.version
        )
    db.session.rollback()

    # The worst case the ranges allow: the largest total, split over the most lines.
    share = MONEY.high / MAX_PROPOSAL_LINES
    largest = services.RevisionDraft(lines=[line("1", f"{share:.2f}")] * MAX_PROPOSAL_LINES)
    saved = services.save_revision(
        revision, largest, actor=story.technician, expected_version=revision.version
    )
    _priced, totals = services.price(saved)
    assert totals.list_value == MONEY.high
    assert totals.customer_total < Decimal("9999999999.99")  # NUMERIC(12, 2) columns


# --- the other known 500s, through the pages ------------------------------------------------


def test_a_25_digit_customer_id_on_the_new_incident_form_is_a_form_error(client, story, technician):
    before = stored()

    response = client.post(
        "/incidents/new",
        data={
            "customer_id": "99999999999999999999",
            "site_id": "1",
            "actual": "Broken",
            "occurred_at": "2026-01-01T10:00",
        },
    )

    assert response.status_code == 400
    assert stored() == before


def test_a_part_order_quantity_of_1e308_is_refused_next_to_the_line(client, story, technician):
    before = stored()

    response = client.post(
        f"/incidents/{story.incident.id}/part-orders/new",
        data={
            "supplier_id": story.supplier.id,
            "lines-0-part_id": story.part.id,
            "lines-0-quantity": "1e308",
            "lines-0-unit_cost": "350.00",
            "lines-0-discount_pct": "0",
        },
    )

    assert response.status_code == 400
    assert "Line 1: Quantity can be at most 100,000." in page_text(response)
    assert stored() == before


def test_a_proposal_save_with_a_broken_hidden_version_is_a_400_with_a_message(
    client, story, technician
):
    proposal = arrange_offer(story)
    url = f"/proposals/{proposal.id}"
    line_id = proposal.current.lines[0].part_order_line_id
    before = stored()

    response = client.post(url, data=editor_form(story, line_id, client.get(url), version="abc"))

    assert response.status_code == 400
    assert "broken hidden field (version)" in page_text(response)
    assert stored() == before


@pytest.mark.parametrize(
    ("field", "typed", "message"),
    [
        ("return_visit_at", "0001-01-01T08:00", "The return visit must be between"),
        ("return_visit_at", "9999-12-31T08:00", "The return visit must be between"),
        ("valid_until", "9999-12-31", "Valid until must be between"),
    ],
)
def test_a_return_visit_or_validity_in_year_1_or_9999_is_refused_and_kept_as_typed(
    client, story, technician, field, typed, message
):
    proposal = arrange_offer(story)
    url = f"/proposals/{proposal.id}"
    line_id = proposal.current.lines[0].part_order_line_id
    before = stored()

    response = client.post(url, data=editor_form(story, line_id, client.get(url), **{field: typed}))

    assert response.status_code == 400
    assert message in page_text(response)
    assert f'value="{typed}"' in response.get_data(as_text=True)
    assert stored() == before


def test_a_follow_up_due_in_9999_and_a_delivery_expected_in_9999_are_refused(
    client, story, technician
):
    incident = story.incident
    before = stored()

    promised = client.post(
        f"/incidents/{incident.id}/follow-ups",
        data={"owner_id": story.technician.id, "due_at": "9999-12-31T10:00", "promise": "Call"},
    )
    ordered = client.post(
        f"/incidents/{incident.id}/part-orders/new",
        data={
            "supplier_id": story.supplier.id,
            "expected_on": "9999-12-31",
            "lines-0-part_id": story.part.id,
            "lines-0-quantity": "1",
            "lines-0-unit_cost": "350.00",
        },
    )

    assert promised.status_code < 500 and ordered.status_code == 400
    assert "Expected delivery must be between" in page_text(ordered)
    assert stored() == before


def test_ids_in_urls_that_are_no_valid_id_are_not_found(client, story, technician):
    for url in (
        "/incidents/99999999999999999999999",
        "/proposals/2147483648",
        "/incidents/-1",
        "/incidents/abc",
        "/parts/99999999999999999999999/edit",
    ):
        assert client.get(url).status_code == 404, url


def test_a_nul_character_in_a_form_is_refused_with_a_message(client, story, technician):
    response = client.post(
        f"/incidents/{story.incident.id}/work",
        data={"work-started_at": "2026-01-01T10:00", "work-minutes": "30", "work-note": "a\x00b"},
    )

    assert response.status_code == 400
    assert "cannot be stored" in page_text(response)


# --- the database's own word ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "values"),
    [
        ("UPDATE proposal_lines SET quantity = :value", {"value": int(QUANTITY.high) + 1}),
        ("UPDATE proposal_lines SET unit_price = :value", {"value": int(MONEY.high) + 1}),
        ("UPDATE part_order_lines SET unit_cost = :value", {"value": int(MONEY.high) + 1}),
        ("UPDATE proposal_revisions SET valid_until = :value", {"value": date(9999, 12, 31)}),
        ("UPDATE follow_ups SET due_at = :value", {"value": datetime(1, 1, 2, tzinfo=UTC)}),
    ],
    ids=["quantity", "price", "cost", "valid-until-9999", "due-year-1"],
)
def test_the_database_refuses_what_no_page_could_show_even_by_sql(story, statement, values):
    proposal = arrange_offer(story)
    incident_services.promise_follow_up(
        story.incident,
        actor=story.technician,
        owner_id=story.technician.id,
        due_at=datetime.now(UTC) + timedelta(days=1),
        promise="Call back",
    )
    db.session.flush()
    assert proposal.current.lines

    with pytest.raises(IntegrityError), db.session.begin_nested():
        db.session.execute(text(statement), values)


def test_the_flush_refuses_a_value_beyond_its_range_from_any_path(story):
    proposal = arrange_offer(story)
    line = db.session.scalar(select(PartOrderLine).limit(1))
    assert proposal and line is not None
    line.quantity = Decimal("1e15")

    with pytest.raises(DomainError, match="Quantity can be at most 100,000"):
        db.session.flush()
    db.session.rollback()


# --- the migration ----------------------------------------------------------------------------


def test_the_ranges_migration_names_rows_already_out_of_range_and_changes_nothing(
    database_url, tmp_path
):
    with postgres.fresh_database(database_url, "ranges", tmp_path) as fresh:
        app = create_app(config_for(fresh))
        with app.app_context():
            alembic_config = app.extensions["migrate"].migrate.get_config()
            scripts = ScriptDirectory.from_config(alembic_config)
            before = scripts.get_revision("0008_value_ranges").down_revision
            flask_migrate.upgrade(revision=before)
            with db.engine.begin() as connection:
                connection.execute(
                    text(
                        "INSERT INTO parts (id, number, description, list_price, active) "
                        "VALUES (7, 'P-7', 'Gold-plated', 25000000, true), "
                        "(8, 'P-8', 'Fine', 350, true)"
                    )
                )

            with pytest.raises(Exception, match=r"parts\.list_price .*id 7: 25000000"):
                command.upgrade(alembic_config, "head")
            with db.engine.connect() as connection:
                version = connection.execute(text("SELECT version_num FROM alembic_version"))
                assert version.scalar() == before

            with db.engine.begin() as connection:
                connection.execute(text("UPDATE parts SET list_price = 2500 WHERE id = 7"))
            flask_migrate.upgrade()
            with db.engine.connect() as connection:
                version = connection.execute(text("SELECT version_num FROM alembic_version"))
                assert version.scalar() == scripts.get_current_head()
            db.engine.dispose()
