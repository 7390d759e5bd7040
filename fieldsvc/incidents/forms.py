"""Forms for reporting and working on incidents: they validate input, nothing else."""

from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, Optional, Regexp

from fieldsvc.clock import LocalDateTimeField
from fieldsvc.incidents.models import (
    CAPTION_MAX,
    CauseCategory,
    Channel,
    Direction,
    FollowUpOutcome,
    ReportedVia,
    Severity,
)
from fieldsvc.ranges import (
    HAPPENED,
    PLANNED,
    WORK_MINUTES,
    record_id,
    required_record_id,
    window,
)

DATETIME_FORMAT = "%Y-%m-%dT%H:%M"


def choices_of(enum) -> list[SelectChoice]:
    return [SelectChoice(member.value, member.label) for member in enum]


_optional_int = record_id
HAPPENED_AT = window(HAPPENED, "When it occurred").validator()
# More photos than this in one upload get no choice of their own: they are kept for us.
MAX_PHOTOS_AT_ONCE = 50


def submission_key_field() -> HiddenField:
    """The idempotency key of one submission: the page's form carries a fresh one, and a
    tablet's outbox gives each queued action its own, so that sending it again (a retry,
    a replay after a lost answer) records it once."""
    return HiddenField(
        validators=[
            Optional(),
            Regexp(r"^[A-Za-z0-9-]{1,48}$", message="This form is damaged: reload the page."),
        ]
    )


class PhotoDetailsForm(Form):
    """What is chosen for one photo as it is added (the page adds one per chosen file)."""

    shown_to_customer = BooleanField("Show to the customer")
    caption = StringField(
        "Caption", validators=[Optional(), Length(max=CAPTION_MAX)], description="For the customer."
    )


def photo_details_field() -> FieldList:
    """The choices of the photos of one upload: entry `n` is about the n-th file sent."""
    return FieldList(FormField(PhotoDetailsForm), max_entries=MAX_PHOTOS_AT_ONCE)


class ChoosePhotoForm(FlaskForm):
    """Whether the customer sees a photo of the incident, and its caption."""

    shown_to_customer = BooleanField(
        "Show to the customer",
        description="In the next proposal sent and on the customer's status page.",
    )
    caption = StringField(
        "Caption",
        validators=[Optional(), Length(max=CAPTION_MAX)],
        description="What the customer reads under the photo.",
    )


class ReportIncidentForm(FlaskForm):
    """The tablet form; the choices of the selects are set by the view."""

    submission_key = submission_key_field()
    customer_id = SelectField("Customer", coerce=_optional_int, validate_choice=False)
    site_id = SelectField(
        "Site",
        coerce=_optional_int,
        validate_choice=False,
        validators=[InputRequired("Choose the site where it happened.")],
    )
    # Checked by the service against the chosen site; the browser loads the options.
    equipment_ids = SelectMultipleField(
        "Equipment", coerce=required_record_id, validate_choice=False
    )
    reported_via = RadioField(
        "Reported via", choices=choices_of(ReportedVia), default=ReportedVia.ON_SITE.value
    )
    reporter_contact_id = SelectField(
        "Reported by (contact)", coerce=_optional_int, validate_choice=False
    )
    reporter_name = StringField("…or name", validators=[Optional(), Length(max=200)])
    reporter_phone = StringField("Phone", validators=[Optional(), Length(max=50)])
    severity = RadioField("Severity", choices=choices_of(Severity), default=Severity.MEDIUM.value)
    expected = TextAreaField(
        "What the customer expected",
        validators=[Optional(), Length(max=5000)],
        description="Our record, in the customer's words; a dispute pack shows it to them.",
    )
    actual = TextAreaField(
        "What happened",
        validators=[InputRequired("Describe what happened."), Length(max=5000)],
        description="Our record of the facts; a dispute pack shows it to the customer.",
    )
    occurred_at = LocalDateTimeField(
        "When it occurred",
        format=DATETIME_FORMAT,
        validators=[InputRequired("Enter the date and time it occurred."), HAPPENED_AT],
    )
    cause_category = SelectField(
        "Cause", choices=choices_of(CauseCategory), default=CauseCategory.UNKNOWN.value
    )
    cause_description = TextAreaField(
        "Cause, internal description", validators=[Optional(), Length(max=5000)]
    )
    technician_statement = TextAreaField(
        "Technician's own statement",
        validators=[Optional(), Length(max=5000)],
        description="Internal, never shown to the customer: for damage we caused, what "
        "happened, in your words.",
    )
    claim_reference = StringField(
        "Insurance or claim reference", validators=[Optional(), Length(max=100)]
    )
    photos = MultipleFileField("Photos")
    photo_details = photo_details_field()


class EditIncidentForm(ReportIncidentForm):
    """Correcting a report: the same fields, photos aside, and why it changed."""

    submission_key = None
    photos = None
    photo_details = None
    reason = StringField(
        "Reason for the change",
        validators=[Optional(), Length(max=500)],
        description="Kept in the timeline with the values before and after.",
    )


class PhoneIntakeForm(FlaskForm):
    """What an office user fills in during a call."""

    submission_key = submission_key_field()
    customer_id = SelectField("Customer", coerce=_optional_int, validate_choice=False)
    site_id = SelectField("Site (if known)", coerce=_optional_int, validate_choice=False)
    reporter_contact_id = SelectField("Caller", coerce=_optional_int, validate_choice=False)
    reporter_name = StringField("…or caller's name", validators=[Optional(), Length(max=200)])
    reporter_phone = StringField("Caller's phone", validators=[Optional(), Length(max=50)])
    actual = TextAreaField(
        "What is wrong", validators=[InputRequired("Say what is wrong."), Length(max=5000)]
    )
    severity = RadioField("Severity", choices=choices_of(Severity), default=Severity.MEDIUM.value)
    callback_due_at = LocalDateTimeField(
        "Promised call-back",
        format=DATETIME_FORMAT,
        validators=[
            InputRequired("When did you promise to call back?"),
            window(PLANNED, "The call-back").validator(),
        ],
    )
    callback_promise = StringField(
        "Promise in words",
        validators=[Optional(), Length(max=500)],
        description='For example: "call back with a delivery date".',
    )


# The status select starts here, so pressing the button without choosing changes nothing.
NO_STATUS_CHOSEN = SelectChoice("", "Choose the new status…")


class ChangeStatusForm(FlaskForm):
    """The choices are set by the view: the steps staff may take from the current status."""

    # Forms sharing the incident page take a prefix: their "note" fields get ids of their own.
    PREFIX = "status"

    status = SelectField(
        "New status",
        choices=[NO_STATUS_CHOSEN],
        validators=[InputRequired("Choose the new status from the list.")],
    )
    note = TextAreaField("Note", validators=[Optional(), Length(max=5000)])


class AddPhotosForm(FlaskForm):
    submission_key = submission_key_field()
    photos = MultipleFileField("Add photos")
    photo_details = photo_details_field()


class LogWorkForm(FlaskForm):
    PREFIX = "work"
    submission_key = submission_key_field()
    started_at = LocalDateTimeField(
        "Started",
        format=DATETIME_FORMAT,
        validators=[
            InputRequired("When did the work start?"),
            window(HAPPENED, "The start").validator(),
        ],
    )
    minutes = IntegerField(
        "Minutes",
        validators=[
            InputRequired("How many minutes?"),
            WORK_MINUTES.validator(),
        ],
    )
    note = TextAreaField(
        "What was done", validators=[InputRequired("Say what was done."), Length(max=5000)]
    )


class RecordCommunicationForm(FlaskForm):
    submission_key = submission_key_field()
    channel = SelectField("Channel", choices=choices_of(Channel))
    direction = RadioField("Direction", choices=choices_of(Direction), default="inbound")
    at = LocalDateTimeField(
        "When",
        format=DATETIME_FORMAT,
        validators=[Optional(), window(HAPPENED, "When").validator()],
    )
    summary = TextAreaField(
        "Summary", validators=[InputRequired("Summarise what was said."), Length(max=5000)]
    )


class PromiseFollowUpForm(FlaskForm):
    submission_key = submission_key_field()
    owner_id = SelectField("Owner", coerce=required_record_id, validate_choice=False)
    due_at = LocalDateTimeField(
        "Due",
        format=DATETIME_FORMAT,
        validators=[InputRequired("When is it due?"), window(PLANNED, "Due").validator()],
    )
    promise = StringField(
        "Promise",
        validators=[InputRequired("Write the promise in words."), Length(max=500)],
        description='As the customer heard it: "call back by 15:00 with a delivery date".',
    )


class CloseFollowUpForm(FlaskForm):
    submission_key = submission_key_field()
    outcome = RadioField("Outcome", choices=choices_of(FollowUpOutcome), default="done")
    note = TextAreaField(
        "What the customer was told",
        validators=[InputRequired("Say what the customer was told."), Length(max=5000)],
    )
    next_due_at = LocalDateTimeField(
        "Next update due",
        format=DATETIME_FORMAT,
        validators=[Optional(), window(PLANNED, "Next update due").validator()],
        description="Needed for “working on it” and “next step”.",
    )
    next_promise = StringField("Next promise", validators=[Optional(), Length(max=500)])


class ProduceDisputePackForm(FlaskForm):
    include_internal = BooleanField(
        "Include the internal cause (cause category, description, technician's statement, "
        "claim reference)",
        default=False,
        description="Left out unless ticked: the customer reads everything in the pack.",
    )
