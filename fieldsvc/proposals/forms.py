"""Forms for part orders and remediation proposals: they validate input, nothing else."""

from datetime import timedelta

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    DateField,
    DecimalField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import AnyOf, InputRequired, Length, Optional, ValidationError

from fieldsvc import clock
from fieldsvc.auth.models import Role
from fieldsvc.clock import LocalDateTimeField
from fieldsvc.database import utcnow
from fieldsvc.parts.models import PartOrderStatus
from fieldsvc.portal.models import RECORDED_CHANNELS, ResponseKind
from fieldsvc.portal.services import DECLINE_REASONS
from fieldsvc.proposals.models import ApprovalMeasure, LineKind
from fieldsvc.ranges import (
    MONEY,
    PERCENTAGE,
    PLANNED,
    QUANTITY,
    RETURN_WINDOW_DAYS,
    TEXT_MAX,
    named,
    record_id,
    window,
)

BLANK_ROWS = 2  # empty lines offered below the filled ones; empty rows are ignored


def pad_blank_rows(lines) -> None:
    """Offer empty rows below the filled ones of a FieldList (no script needed to add a line)."""
    while len(lines) < len([e for e in lines if not e.form.is_blank]) + BLANK_ROWS:
        lines.append_entry()


_optional_int = record_id


class OrderLineForm(Form):
    part_id = SelectField("Catalogue part", coerce=_optional_int, validate_choice=False)
    description = StringField("Description", validators=[Optional(), Length(max=300)])
    quantity = DecimalField("Qty", places=None, validators=[Optional(), QUANTITY.validator()])
    unit_cost = DecimalField(
        "Unit cost",
        places=None,
        validators=[Optional(), named(MONEY, "Unit cost").validator()],
    )
    discount_pct = DecimalField(
        "Discount %",
        places=None,
        default=0,
        validators=[Optional(), named(PERCENTAGE, "Discount").validator()],
    )

    @property
    def is_blank(self) -> bool:
        return not (self.part_id.data or (self.description.data or "").strip())


class PartOrderForm(FlaskForm):
    supplier_id = SelectField("Supplier", coerce=_optional_int, validate_choice=False)
    po_number = StringField("PO number", validators=[Optional(), Length(max=60)])
    ordered_on = DateField(
        "Ordered on", validators=[Optional(), window(PLANNED, "Ordered on").validator()]
    )
    expected_on = DateField(
        "Expected delivery",
        validators=[Optional(), window(PLANNED, "Expected delivery").validator()],
    )
    return_window_days = IntegerField(
        "Return window (days)",
        validators=[Optional(), RETURN_WINDOW_DAYS.validator()],
        description="How long the supplier takes the parts back.",
    )
    restocking_fee_pct = DecimalField(
        "Restocking fee %",
        places=None,
        default=0,
        validators=[Optional(), named(PERCENTAGE, "Restocking fee").validator()],
    )
    lines = FieldList(FormField(OrderLineForm))


class EditPartOrderForm(PartOrderForm):
    """After the order exists its lines stay as ordered; dates and terms can change."""

    lines = None


class PartOrderStatusForm(FlaskForm):
    status = SelectField(
        "New status", choices=[SelectChoice(s.value, s.label) for s in PartOrderStatus]
    )


class ProposalLineForm(Form):
    kind = SelectField("Kind", choices=[SelectChoice(k.value, k.label) for k in LineKind])
    description = StringField("Description", validators=[Optional(), Length(max=300)])
    quantity = DecimalField("Qty", places=None, validators=[Optional(), QUANTITY.validator()])
    unit_price = DecimalField(
        "Unit price",
        places=None,
        validators=[Optional(), named(MONEY, "Unit price").validator()],
    )
    discount_pct = DecimalField(
        "Discount %",
        places=None,
        default=0,
        validators=[Optional(), named(PERCENTAGE, "Discount").validator()],
    )
    customer_share_pct = DecimalField(
        "Customer share %",
        places=None,
        default=100,
        validators=[Optional(), named(PERCENTAGE, "Customer share").validator()],
    )
    part_order_line_id = SelectField("Ordered part", coerce=_optional_int, validate_choice=False)

    @property
    def is_blank(self) -> bool:
        return not (self.description.data or "").strip() and self.quantity.data is None


class EditRevisionForm(FlaskForm):
    version = HiddenField()
    seen_seq = HiddenField()
    # Hints say who reads the text: these three are ours, printed for the customer.
    what_happened = TextAreaField(
        "What happened",
        validators=[Length(max=5000)],
        description="Printed for the customer, in our words: what went wrong, and sorry "
        "where it was our doing.",
    )
    already_done = TextAreaField(
        "What we have already done",
        validators=[Length(max=5000)],
        description="Printed for the customer: what is done already, such as the parts "
        "ordered and the day they arrive.",
    )
    plan = TextAreaField(
        "The plan",
        validators=[Length(max=5000)],
        description="Printed for the customer: what happens next, when, and who does it.",
    )
    contact_id = SelectField("Send to", coerce=_optional_int, validate_choice=False)
    return_visit_at = LocalDateTimeField(
        "Return visit",
        format="%Y-%m-%dT%H:%M",
        validators=[Optional(), window(PLANNED, "The return visit").validator()],
    )
    return_technician_id = SelectField("Technician", coerce=_optional_int, validate_choice=False)
    valid_until = DateField(
        "Valid until", validators=[Optional(), window(PLANNED, "Valid until").validator()]
    )
    lines = FieldList(FormField(ProposalLineForm))


class VersionForm(FlaskForm):
    version = HiddenField()


class AcknowledgeForm(FlaskForm):
    version = HiddenField()
    key = HiddenField()


class ApproveForm(FlaskForm):
    version = HiddenField()
    password = PasswordField(
        "Your password",
        validators=[InputRequired("Enter your password to approve.")],
        description="Approving means: “I approve this remediation offer”.",
    )


class RequestChangesForm(FlaskForm):
    version = HiddenField()
    comment = TextAreaField(
        "What should change",
        validators=[InputRequired("Say what should change."), Length(max=TEXT_MAX)],
    )


# How far back an answer taken by phone or on paper may be dated: a sent offer older
# than this has long expired.
ANSWER_AT_MOST_AGO = timedelta(days=366)


class RecordAnswerForm(FlaskForm):
    """An answer the customer gave by phone, on paper, by e-mail or in person; whether
    it can be recorded on the revision (and when it was sent) is the service's to say."""

    kind = RadioField(
        "The customer's answer",
        choices=[SelectChoice(kind.value, kind.label) for kind in ResponseKind],
        validate_choice=False,
        validators=[
            InputRequired("Choose the customer's answer."),
            AnyOf([kind.value for kind in ResponseKind], "Choose one of the answers listed."),
        ],
    )
    channel = RadioField(
        "How they answered",
        choices=[SelectChoice(channel.value, channel.label) for channel in RECORDED_CHANNELS],
        validate_choice=False,
        validators=[
            InputRequired("Say how the customer answered."),
            AnyOf(
                [channel.value for channel in RECORDED_CHANNELS], "Choose one of the ways listed."
            ),
        ],
    )
    answered_at = LocalDateTimeField(
        "When they answered",
        format="%Y-%m-%dT%H:%M",
        validators=[InputRequired("When did the customer answer?")],
        description="Not in the future, and not before the proposal was sent.",
    )
    full_name = StringField(
        "The customer's name, as they gave it",
        validators=[InputRequired("Enter the customer's name as they gave it."), Length(2, 200)],
    )
    reason = SelectField(
        "Why they declined",
        choices=[SelectChoice("", "—"), *(SelectChoice(k, v) for k, v in DECLINE_REASONS.items())],
        default="",
        description="When the customer declined.",
    )
    comment = TextAreaField(
        "What the customer said",
        validators=[Optional(), Length(max=5000)],
        description="Needed when they asked for changes, or declined for another reason.",
    )
    scan = FileField(
        "Scan of the signed copy (optional)",
        description="A PDF, or a photo of the signed page (JPEG, PNG or WebP).",
    )

    def validate_answered_at(self, field) -> None:
        now = clock.to_local(utcnow(), clock.reader_zone()).replace(tzinfo=None)
        if field.data > now + timedelta(days=1):
            raise ValidationError("The customer's answer cannot be in the future.")
        if field.data < now - ANSWER_AT_MOST_AGO:
            raise ValidationError("Enter a time within the last year.")


class EditApprovalRuleForm(FlaskForm):
    description = StringField(
        "Rule", validators=[InputRequired(), Length(max=200)], description="Shown to approvers."
    )
    measure = SelectField("When", choices=[SelectChoice(m.value, m.label) for m in ApprovalMeasure])
    threshold = DecimalField(
        "Is above",
        places=2,
        default=0,
        validators=[InputRequired(), named(MONEY, "The amount").validator()],
        description="Ignored for “Caused by our technician”.",
    )
    required_role = SelectField(
        "Approver must be",
        choices=[SelectChoice(r.value, r.label) for r in (Role.SUPERVISOR, Role.ADMIN)],
    )
