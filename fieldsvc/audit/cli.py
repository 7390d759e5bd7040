import click
from flask import Blueprint

from fieldsvc.audit import services

bp = Blueprint("audit", __name__, cli_group="audit")


@bp.cli.command("verify")
def verify() -> None:
    """Check the audit trail's hash chain; exit 1 at the first bad event."""
    try:
        checked = services.verify_chain()
    except services.ChainBroken as broken:
        click.echo(f"audit trail BROKEN at {broken}", err=True)
        raise SystemExit(1) from broken
    click.echo(f"audit trail intact: {checked} events checked")
