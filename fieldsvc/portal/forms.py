"""The customer's forms. What is missing is said by the services, in their words."""

from flask_wtf import FlaskForm
from wtforms import (
    HiddenField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length

from fieldsvc.portal.services import DECLINE_REASONS
from fieldsvc.ranges import record_id


class AnswerForm(FlaskForm):
    """Names the revision and the PDF the customer had in front of them."""

    revision_id = HiddenField()
    pdf_sha256 = HiddenField()


class AcceptForm(AnswerForm):
    full_name = StringField(
        "Your full name",
        validators=[Length(max=200)],
        description="Typing your name is your signature: it accepts this proposal.",
        render_kw={"autocomplete": "name"},
    )


class ChangesForm(AnswerForm):
    comment = TextAreaField("What would you like us to change?", validators=[Length(max=5000)])


class DeclineForm(AnswerForm):
    reason = RadioField(
        "Why do you decline?",
        choices=[SelectChoice(key, label) for key, label in DECLINE_REASONS.items()],
        validate_choice=False,
    )
    comment = TextAreaField("Anything you want to add", validators=[Length(max=5000)])


class ReportForm(FlaskForm):
    site_id = SelectField("Where", coerce=record_id, validate_choice=False)
    what_happened = TextAreaField("What happened?", validators=[Length(max=5000)])
    name = StringField("Your name", validators=[Length(max=200)])
    phone = StringField(
        "Phone number to call you back", validators=[Length(max=50)], render_kw={"type": "tel"}
    )


class SurveyForm(FlaskForm):
    score = RadioField(
        "How likely are you to recommend us to a colleague? (0 = not at all, 10 = very)",
        choices=[SelectChoice(n, str(n)) for n in range(11)],
        coerce=int,
        validators=[InputRequired("Choose a score from 0 to 10.")],
    )
    comment = TextAreaField("What could we have done better?", validators=[Length(max=5000)])
