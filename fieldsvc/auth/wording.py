"""How users and teams read in their history: the labels of their forms, and the
sign-in events."""

from fieldsvc.audit.wording import Wording, form_labels, name_actions, register
from fieldsvc.auth import forms
from fieldsvc.auth.models import Team, User

register(Team, Wording(noun="team", labels=form_labels(forms.EditTeamForm)))
register(
    User,
    Wording(
        noun="user",
        labels=form_labels(forms.EditUserForm, password_hash="Password") | {"active": "Active"},
    ),
)
name_actions(
    {
        "sign_in": "Signed in",
        "sign_out": "Signed out",
        "account_locked": "Locked after failed sign-ins",
    }
)
