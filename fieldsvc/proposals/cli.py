"""`flask --app fieldsvc proposals ...`: commands for cron and support staff."""

import click
from flask import Blueprint

from fieldsvc.extensions import db
from fieldsvc.proposals import services

bp = Blueprint("proposals_cli", __name__, cli_group="proposals")


@bp.cli.command("expire")
def expire() -> None:
    """Expire sent offers past their valid-until date (run daily from cron)."""
    expired = services.expire_revisions()
    db.session.commit()
    for revision in expired:
        click.echo(f"expired {revision}; follow-up created for the parts")
    click.echo(f"{len(expired)} offer(s) expired")
