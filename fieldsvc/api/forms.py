from flask_wtf import FlaskForm
from wtforms import (
    IntegerField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    widgets,
)
from wtforms.validators import InputRequired, Length, NumberRange

from fieldsvc.api.models import SCOPES, Area
from fieldsvc.api.services import MAX_DAYS
from fieldsvc.auth.forms import optional_id, team_choices
from fieldsvc.auth.models import Role


def _scope_label(scope: str) -> str:
    area, access = scope.split(":")
    return f"{'Read' if access == 'read' else 'Change'}: {Area(area).label.lower()}"


class ScopesField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class CreateTokenForm(FlaskForm):
    name = StringField(
        "Name",
        validators=[InputRequired(), Length(max=100)],
        description="What will use it, e.g. “ERP sync” or “Chat bot”.",
    )
    scopes = ScopesField(
        "What it may do",
        choices=[SelectChoice(scope, _scope_label(scope)) for scope in SCOPES],
        validators=[InputRequired("Choose at least one.")],
    )
    days = IntegerField(
        "Days until it expires",
        default=90,
        validators=[InputRequired(), NumberRange(1, MAX_DAYS)],
    )


class CreateServiceTokenForm(CreateTokenForm):
    account = StringField(
        "Service account",
        validators=[InputRequired(), Length(max=120)],
        description="The integration the token acts as; a new account unless one has this name.",
    )
    role = SelectField(
        "Its role",
        choices=[SelectChoice(role.value, role.label) for role in Role],
        default=Role.TECHNICIAN.value,
        description="An admin account may change customers, sites, contacts and equipment.",
    )
    team_id = SelectField(
        "Its team", coerce=optional_id, description="It sees that team's incidents."
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.team_id.choices = team_choices()
