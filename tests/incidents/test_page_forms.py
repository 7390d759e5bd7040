"""The incident page draws its blank forms as plain HTML, without building a WTForms
object per form: what a person gets must be exactly what the form classes draw (labels,
help, limits, choices), and a form sent with a mistake comes back with its values and
the error next to the field."""

import re

import pytest
from flask_login import login_user

from fieldsvc.auth.models import Role
from fieldsvc.customers.models import Customer
from fieldsvc.extensions import db
from fieldsvc.incidents import forms, views
from fieldsvc.incidents.photos import process_photo
from fieldsvc.incidents.services import PhotoChoice, choose_photo_for_customer
from tests.factories import add_activity
from tests.incidents.test_photo_choice import _jpeg

# Values that differ between two drawings of the same page: fresh submission keys, the
# CSRF token (signed with the time) and the work form's "now".
_CHANGING = re.compile(
    r'((?:name="[\w-]*(?:submission_key|csrf_token)"|id="work-started_at"[^>]*) '
    r'(?:name="[\w-]+" )?(?:required )?type="[\w-]+" value=")[^"]*"'
)


def _same_markup(page: str) -> str:
    page = _CHANGING.sub(r'\1…"', page[page.index('<p class="crumbs">') :])
    return re.sub(r">\s+<", "><", re.sub(r"\s+", " ", page)).strip()


@pytest.fixture
def me(make_team, signed_in):
    """A supervisor of the North crew, signed in."""
    return signed_in(Role.SUPERVISOR, team=make_team(name="North crew"))


@pytest.fixture
def incident(me, make_site, make_incident, make_user):
    """The North crew's incident with a photo shown to the customer, one kept for us, and
    two open follow-ups."""
    team = me.team
    site = make_site(customer=Customer(name="Northwind Pharma", team=team))
    photos = [
        process_photo(_jpeg(colour), f"{colour}.jpg", max_bytes=10**6, max_pixels=10**6)
        for colour in ("orange", "blue")
    ]
    incident = make_incident(site=site, photos=photos, actor=me)
    choose_photo_for_customer(
        incident.attachments[0], PhotoChoice(True, 'Bent <flange> & "seal"'), actor=me
    )
    add_activity(incident, [me, make_user(Role.TECHNICIAN, team=team)], 2)
    db.session.commit()
    return incident


def test_the_incident_page_draws_its_forms_as_their_form_classes_do(app, client, me, incident):
    drawn = client.get(f"/incidents/{incident.id}").get_data(as_text=True)

    with app.test_request_context(f"/incidents/{incident.id}"):
        login_user(me)
        incident = db.session.merge(incident)
        follow_up_form = forms.PromiseFollowUpForm(formdata=None)
        follow_up_form.owner_id.data = me.id
        by_classes, _ = views._detail_page(
            incident,
            photo_forms={
                photo.id: forms.ChoosePhotoForm(
                    formdata=None,
                    prefix=f"photo-{photo.id}",
                    data={"shown_to_customer": photo.shown_to_customer, "caption": photo.caption},
                )
                for photo in incident.attachments
            },
            close_forms={
                f.id: forms.CloseFollowUpForm(formdata=None, prefix=f"close-{f.id}")
                for f in incident.follow_ups
                if f.closed_at is None
            },
            photos_form=forms.AddPhotosForm(formdata=None),
            work_form=forms.LogWorkForm(formdata=None, prefix=forms.LogWorkForm.PREFIX),
            communication_form=forms.RecordCommunicationForm(formdata=None),
            follow_up_form=follow_up_form,
            status_form=forms.ChangeStatusForm(formdata=None, prefix=forms.ChangeStatusForm.PREFIX),
        )

    assert "Bent &lt;flange&gt; &amp; &#34;seal&#34;" in drawn
    assert drawn.count('type="radio" value="done"') == 2  # two open follow-ups
    assert _same_markup(drawn) == _same_markup(by_classes)


def test_a_work_entry_sent_with_a_mistake_comes_back_with_the_error_and_what_was_typed(
    client, incident
):
    response = client.post(
        f"/incidents/{incident.id}/work",
        data={"work-started_at": "2026-11-30T08:00", "work-minutes": "5000", "work-note": "Fixed"},
    )

    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="work-minutes-error"' in page
    assert 'name="work-note" required rows="2">\r\nFixed</textarea>' in page
    assert 'value="2026-11-30T08:00"' in page
    # The other forms are drawn blank, each with a fresh submission key.
    keys = re.findall(r'name="[\w-]*submission_key" type="hidden" value="([^"]+)"', page)
    assert len(keys) == len(set(keys)) > 3
