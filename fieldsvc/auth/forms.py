from functools import cache

from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from sqlalchemy import select
from wtforms import (
    DecimalField,
    EmailField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    ValidationError,
)
from wtforms.validators import Email, InputRequired, Length, Optional
from wtforms.widgets import html_params

from fieldsvc import clock
from fieldsvc.auth.models import Role, Team
from fieldsvc.extensions import db
from fieldsvc.ranges import MONEY, named, record_id

ROLE_CHOICES = [SelectChoice(role.value, role.label) for role in Role]


optional_id = record_id


def team_choices() -> list[SelectChoice]:
    teams = db.session.scalars(select(Team).where(Team.active).order_by(Team.name))
    return [SelectChoice("", "No team")] + [SelectChoice(team.id, team.name) for team in teams]


@cache
def _zone_options() -> str:
    """Every zone as <option>s, built once: drawing 600 options through WTForms for each
    page would cost more than the rest of the page."""
    return "".join(
        f'<option value="{escape(name)}">{escape(name.replace("_", " "))}</option>'
        for name in clock.time_zone_names()
    )


def _known_time_zone(form, field) -> None:
    if problem := clock.time_zone_problem(field.data):
        raise ValidationError(problem)


class TimeZoneSelect:
    """A <select> of "the company's" (empty) and every zone, the field's own selected."""

    def __call__(self, field, **kwargs) -> Markup:
        kwargs.setdefault("id", field.id)
        chosen = field.data or ""
        company = f"The company's: {clock.zone_label(clock.company_zone())}"
        options = _zone_options()
        if chosen and chosen in clock.time_zone_names():
            mine = f'<option value="{escape(chosen)}">'
            options = options.replace(mine, f'<option selected value="{escape(chosen)}">', 1)
        elif chosen:  # a name the tz database no longer has: shown, and refused on save
            options = f'<option selected value="{escape(chosen)}">{escape(chosen)}</option>' + (
                options
            )
        first = f'<option{"" if chosen else " selected"} value="">{escape(company)}</option>'
        return Markup(f"<select {html_params(name=field.name, **kwargs)}>{first}{options}</select>")


class TimeZoneField(StringField):
    """A time zone from the tz database, or empty for the company's, chosen from a list."""

    widget = TimeZoneSelect()

    def __init__(self, label: str, **kwargs) -> None:
        kwargs.setdefault("validators", []).append(_known_time_zone)
        super().__init__(label, **kwargs)


class EditTeamForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=120)])


class LoginForm(FlaskForm):
    email = EmailField("E-mail", validators=[InputRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[InputRequired()])


class EditUserForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=120)])
    email = EmailField(
        "E-mail",
        validators=[
            InputRequired(),
            Email("Enter an e-mail address like name@company.com.", check_deliverability=False),
            Length(max=254),
        ],
    )
    role = SelectField("Role", choices=ROLE_CHOICES, validators=[InputRequired()])
    team_id = SelectField(
        "Team",
        coerce=optional_id,
        description="A team sees the incidents of the customers it serves.",
    )
    approval_limit = DecimalField(
        "Approval limit",
        places=2,
        default=0,
        validators=[
            InputRequired(),
            named(MONEY, "The approval limit").validator(),
        ],
        description="Largest remediation amount this person may approve (supervisors).",
    )
    time_zone = TimeZoneField(
        "Time zone",
        description="Pages show this person times in it, and read times they type in it.",
    )
    password = PasswordField(
        "New password",
        validators=[Optional()],
        description="Leave empty to keep the current password.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.team_id.choices = team_choices()


class EditServiceAccountForm(EditUserForm):
    """A service account never signs in: it has no password to set, and its e-mail
    address is a placeholder that receives nothing (and that no address check accepts)."""

    email = None
    password = None


class CreateUserForm(EditUserForm):
    password = PasswordField(
        "Password",
        validators=[InputRequired("Enter a password.")],
        description="At least 10 characters.",
    )


class EditOwnSettingsForm(FlaskForm):
    time_zone = TimeZoneField(
        "Your time zone",
        description="Pages show you times in it, and times you type are read in it.",
    )
