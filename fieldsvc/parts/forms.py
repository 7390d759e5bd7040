from flask_wtf import FlaskForm
from wtforms import DecimalField, EmailField, StringField, TextAreaField
from wtforms.validators import Email, InputRequired, Length, Optional

from fieldsvc.ranges import MONEY, named


class EditSupplierForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=200)])
    email = EmailField(
        "E-mail",
        validators=[
            Optional(),
            Email("Enter an e-mail address like orders@supplier.com.", check_deliverability=False),
            Length(max=254),
        ],
    )
    phone = StringField("Phone", validators=[Optional(), Length(max=50)])
    notes = TextAreaField("Notes", validators=[Optional(), Length(max=5000)])


class EditPartForm(FlaskForm):
    number = StringField("Part number", validators=[InputRequired(), Length(max=60)])
    description = StringField("Description", validators=[InputRequired(), Length(max=300)])
    list_price = DecimalField(
        "List price",
        places=2,
        validators=[
            InputRequired("Enter the list price."),
            named(MONEY, "The list price").validator(),
        ],
    )
