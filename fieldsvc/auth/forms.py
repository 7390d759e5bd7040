from flask_wtf import FlaskForm
from wtforms import DecimalField, EmailField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import Email, InputRequired, Length, NumberRange, Optional

from fieldsvc.auth.models import Role

ROLE_CHOICES = [SelectChoice(role.value, role.label) for role in Role]


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
    approval_limit = DecimalField(
        "Approval limit",
        places=2,
        default=0,
        validators=[
            InputRequired(),
            NumberRange(min=0, message="The approval limit cannot be negative."),
        ],
        description="Largest remediation amount this person may approve (supervisors).",
    )
    password = PasswordField(
        "New password",
        validators=[Optional()],
        description="Leave empty to keep the current password.",
    )


class CreateUserForm(EditUserForm):
    password = PasswordField(
        "Password",
        validators=[InputRequired("Enter a password.")],
        description="At least 10 characters.",
    )
