from decimal import Decimal

import click
from flask import Blueprint

from fieldsvc.auth import services
from fieldsvc.auth.models import Role
from fieldsvc.errors import FieldError
from fieldsvc.extensions import db

bp = Blueprint("users", __name__, cli_group="users")


@bp.cli.command("create")
@click.option("--email", required=True, help="Sign-in e-mail address.")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--name", help="Full name (defaults to the e-mail address).")
@click.option("--approval-limit", type=Decimal, default=Decimal("0"), show_default=True)
@click.password_option(help="Prompted for when not given.")
def create(email: str, role: str, name: str | None, approval_limit: Decimal, password: str) -> None:
    """Create a user account."""
    try:
        user = services.create_user(
            name=name or email,
            email=email,
            role=role,
            password=password,
            approval_limit=approval_limit,
            actor=None,
        )
    except FieldError as error:
        raise click.UsageError(f"{error.field}: {error.message}") from error
    db.session.commit()
    click.echo(f"created {user.role.value} {user.email} (id {user.id})")
