import sys
from decimal import Decimal

import click
from flask import Blueprint, current_app

from fieldsvc.auth import services
from fieldsvc.auth.models import Role
from fieldsvc.errors import FieldError
from fieldsvc.extensions import db

bp = Blueprint("users", __name__, cli_group="users")

CREATE_HELP = """Create a user account.

\b
The first administrator, by script (the password on stdin, never in shell history):
  printf '%s\\n' "$PASSWORD" | flask --app fieldsvc users create --role admin \\
      --email ada@example.com --name "Ada Admin" --approval-limit 50000 \\
      --team "North-East field team" --password-stdin

In a terminal, without --password-stdin or --password, the password is asked for twice.
Anywhere else one of them is required.

Teams decide who sees what: a team sees the incidents of the customers it serves (each
customer's "Served by team", set on its page). Technicians and supervisors see only
their own team's customers, and none while they have no team; administrators see
every customer whatever their team.

The approval limit is the most a supervisor or administrator may approve in one
remediation offer (what the company absorbs, in the company's currency): 0 approves
nothing above 0.
"""


@bp.cli.command("create", help=CREATE_HELP)
@click.option("--email", required=True, help="Sign-in e-mail address.")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--name", required=True, help="The person's full name, shown on pages and PDFs.")
@click.option(
    "--approval-limit",
    type=Decimal,
    default=Decimal("0"),
    show_default=True,
    help="Most this person may approve in one offer (what the company absorbs).",
)
@click.option(
    "--team",
    "team_name",
    metavar="NAME",
    help="The team this person works in; created when no team has this name.",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input.",
)
@click.option(
    "--password",
    help="The password itself. It lands in the shell's history and the process list: "
    "prefer --password-stdin.",
)
def create(
    email: str,
    role: str,
    name: str,
    approval_limit: Decimal,
    team_name: str | None,
    password_stdin: bool,
    password: str | None,
) -> None:
    password = _new_password(password, password_stdin)
    team = None
    try:
        if team_name is not None:
            team, created = services.find_or_create_team(team_name, actor=None)
        user = services.create_user(
            name=name,
            email=email,
            role=role,
            password=password,
            approval_limit=approval_limit,
            team_id=team.id if team else None,
            actor=None,
        )
    except FieldError as error:
        raise click.UsageError(f"{error.field}: {error.message}") from error
    db.session.commit()
    currency = current_app.config["CURRENCY"]
    click.echo(
        f"created {user.role.value} {user.name} <{user.email}> (id {user.id}), "
        f"approval limit {user.approval_limit:,.2f} {currency}"
    )
    if team is not None:
        click.echo(f"{'created team' if created else 'in team'} {team.name}")
    elif user.role is not Role.ADMIN:
        click.echo(
            "no team: this account sees no customer until an administrator puts it in the "
            "team that serves them (--team, or Users on the admin pages)",
            err=True,
        )


def _new_password(given: str | None, from_stdin: bool) -> str:
    """The password from --password, stdin, or a prompt; never a hang or a bare abort."""
    if given is not None and from_stdin:
        raise click.UsageError("give --password or --password-stdin, not both")
    if given is not None:
        return given
    stdin = sys.stdin
    if from_stdin:
        line = stdin.readline().rstrip("\r\n")
        if not line:
            raise click.UsageError("--password-stdin read no password: the first line is empty")
        return line
    if not stdin.isatty():
        raise click.UsageError(
            "no password given and no terminal to ask in: pipe it in with --password-stdin "
            "(e.g. printf '%s\\n' \"$PASSWORD\" | flask --app fieldsvc users create ... "
            "--password-stdin)"
        )
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)
