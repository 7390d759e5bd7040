"""`flask --app fieldsvc mail ...`: the outbox for cron and support staff."""

import click
from flask import Blueprint

from fieldsvc.clock import to_local
from fieldsvc.mail import services
from fieldsvc.mail.models import EmailStatus

bp = Blueprint("mail", __name__, cli_group="mail")


@bp.cli.command("retry")
@click.option("--limit", type=click.IntRange(min=1), help="Try at most this many e-mails.")
def retry(limit: int | None) -> None:
    """Deliver pending and failed e-mails (run from cron); exit 1 if any still failed."""
    emails = services.retry_pending(limit)
    failed = 0
    for email in emails:
        if email.status is EmailStatus.SENT:
            click.echo(f"sent {email}")
        else:
            failed += 1
            # On stderr, so cron can drop stdout and mail only the failures.
            click.echo(f"failed {email}: {email.last_error}", err=True)
    click.echo(f"{len(emails) - failed} sent, {failed} failed")
    if failed:
        raise SystemExit(1)


@bp.cli.command("outbox")
def outbox() -> None:
    """List the e-mails not delivered yet, oldest first, with their last error."""
    emails = services.unsent_emails()
    for email in emails:
        tried = f"{email.attempts} attempt{'' if email.attempts == 1 else 's'}"
        click.echo(
            f"#{email.id} {email.status.value} ({tried}) queued "
            f"{to_local(email.created_at):%Y-%m-%d %H:%M %Z} {email}"
            + (f": {email.last_error}" if email.last_error else "")
        )
    click.echo(f"{len(emails)} unsent e-mail(s)")
