"""`flask --app fieldsvc reminders send`: e-mail reminders, run from cron."""

from datetime import datetime

import click
from flask import Blueprint

from fieldsvc import clock
from fieldsvc.reminders import services

bp = Blueprint("reminders", __name__, cli_group="reminders")


@bp.cli.command("send")
@click.option(
    "--now",
    "now_text",
    metavar="ISO-DATETIME",
    help="Act as if it were this time (company time zone unless it has an offset).",
)
def send(now_text: str | None) -> None:
    """E-mail overdue and soon-due follow-ups to their owners, and late part orders and
    unanswered proposals to supervisors and admins; each only once. Exit 1 if an e-mail
    could not be delivered (it stays in the outbox for `mail retry`)."""
    sent = services.send_reminders(_parse_now(now_text) if now_text else None)
    failed = 0
    for reminder in sent:
        items = _plural(reminder.item_count, "item")
        if reminder.delivered:
            click.echo(f"sent {reminder.email} ({items})")
        else:
            failed += 1
            # On stderr, so cron can drop stdout and mail only the failures.
            click.echo(
                f"failed {reminder.email} ({items}): {reminder.email.last_error}; "
                "left in the outbox for `mail retry`",
                err=True,
            )
    total = sum(reminder.item_count for reminder in sent)
    click.echo(
        f"{_plural(len(sent), 'reminder e-mail')} with {_plural(total, 'item')}, {failed} failed"
    )
    if failed:
        raise SystemExit(1)


def _parse_now(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as error:
        raise click.BadParameter(
            f"not an ISO date and time: {text!r}", param_hint="--now"
        ) from error
    return clock.from_local(value) if value.tzinfo is None else value


def _plural(number: int, thing: str) -> str:
    return f"{number} {thing}{'' if number == 1 else 's'}"
