"""The reports' date range, read from the query string: it parses dates, nothing else
(which ranges make sense is `services.report_period`'s rule)."""

from flask_wtf import FlaskForm
from wtforms import DateField
from wtforms.validators import Optional

NOT_A_DATE = "Not a date: type it as YYYY-MM-DD, for example 2026-01-31."


class ChooseReportPeriodForm(FlaskForm):
    class Meta:
        csrf = False  # a GET form that changes nothing

    first = DateField(
        "From", name="from", validators=[Optional()], invalid_value_message=NOT_A_DATE
    )
    last = DateField("To", name="to", validators=[Optional()], invalid_value_message=NOT_A_DATE)
