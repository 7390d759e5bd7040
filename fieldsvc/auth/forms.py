from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DecimalField, EmailField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import Email, InputRequired, Length, Optional

from fieldsvc.auth.models import Role, Team
from fieldsvc.extensions import db
from fieldsvc.ranges import MONEY, named, record_id

ROLE_CHOICES = [SelectChoice(role.value, role.label) for role in Role]


optional_id = record_id


def team_choices() -> list[SelectChoice]:
    teams = db.session.scalars(select(Team).where(Team.active).order_by(Team.name))
    return [SelectChoice("", "No team")] + [SelectChoice(team.id, team.name) for team in teams]


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
    password = PasswordField(
        "New password",
        validators=[Optional()],
        description="Leave empty to keep the current password.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.team_id.choices = team_choices()


class CreateUserForm(EditUserForm):
    password = PasswordField(
        "Password",
        validators=[InputRequired("Enter a password.")],
        description="At least 10 characters.",
    )
