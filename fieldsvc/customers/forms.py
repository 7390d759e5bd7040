from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, EmailField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import Email, InputRequired, Length, Optional

from fieldsvc.auth.forms import TimeZoneField, optional_id, team_choices
from fieldsvc.customers.models import EXTERNAL_ID_MAX, Customer, Site
from fieldsvc.extensions import db
from fieldsvc.ranges import PLANNED, required_record_id, window


def external_id_field() -> StringField:
    return StringField(
        "External id",
        validators=[Optional(), Length(max=EXTERNAL_ID_MAX)],
        description="Its id in your ERP or CMMS: the API's sync finds the record by it.",
    )


EMAIL = Email("Enter an e-mail address like name@company.com.", check_deliverability=False)


def _customer_choices() -> list[SelectChoice]:
    customers = db.session.execute(
        select(Customer.id, Customer.name).where(Customer.active).order_by(Customer.name)
    )
    return [SelectChoice(customer_id, name) for customer_id, name in customers]


def _site_choices() -> list[SelectChoice]:
    """Active sites, grouped by customer."""
    sites = db.session.execute(
        select(Site.id, Site.name, Customer.name)
        .join(Site.customer)
        .where(Site.active)
        .order_by(Customer.name, Site.name)
    )
    return [SelectChoice(site_id, name, optgroup=customer) for site_id, name, customer in sites]


class EditCustomerForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=200)])
    team_id = SelectField(
        "Served by team",
        coerce=optional_id,
        description="That team sees this customer's incidents.",
    )
    notes = TextAreaField("Notes", validators=[Optional(), Length(max=5000)])
    external_id = external_id_field()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.team_id.choices = team_choices()


class EditSiteForm(FlaskForm):
    customer_id = SelectField("Customer", coerce=required_record_id, validators=[InputRequired()])
    name = StringField("Site name", validators=[InputRequired(), Length(max=200)])
    address = TextAreaField("Address", validators=[InputRequired(), Length(max=1000)])
    time_zone = TimeZoneField(
        "Time zone",
        description="The customer reads every time in it: proposal PDF, e-mails, status page.",
    )
    external_id = external_id_field()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.customer_id.choices = _customer_choices()


class EditContactForm(FlaskForm):
    customer_id = SelectField("Customer", coerce=required_record_id, validators=[InputRequired()])
    name = StringField("Name", validators=[InputRequired(), Length(max=200)])
    email = EmailField("E-mail", validators=[Optional(), EMAIL, Length(max=254)])
    phone = StringField("Phone", validators=[Optional(), Length(max=50)])
    external_id = external_id_field()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.customer_id.choices = _customer_choices()


class EditEquipmentForm(FlaskForm):
    site_id = SelectField("Site", coerce=required_record_id, validators=[InputRequired()])
    tag = StringField("Tag", validators=[InputRequired(), Length(max=60)])
    serial = StringField("Serial number", validators=[Optional(), Length(max=100)])
    model = StringField("Model", validators=[Optional(), Length(max=200)])
    calibration_due_on = DateField(
        "Calibration due",
        validators=[Optional(), window(PLANNED, "Calibration due").validator()],
    )
    external_id = external_id_field()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.site_id.choices = _site_choices()
