"""`flask --app fieldsvc proposals ...`: commands for cron and support staff."""

from pathlib import Path

import click
from flask import Blueprint
from sqlalchemy import select

from fieldsvc.extensions import db
from fieldsvc.incidents.models import Incident
from fieldsvc.proposals import pdf, sending, services

bp = Blueprint("proposals_cli", __name__, cli_group="proposals")


@bp.cli.command("expire")
def expire() -> None:
    """Expire sent offers past their valid-until date (run daily from cron)."""
    expired = services.expire_revisions()
    db.session.commit()
    for revision in expired:
        click.echo(f"expired {revision}; follow-up created for the parts")
    click.echo(f"{len(expired)} offer(s) expired")


@bp.cli.command("pdf")
@click.argument("reference")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True)
def write_pdf(reference: str, output: Path) -> None:
    """Write the PDF of the current revision of an incident's latest proposal: the frozen
    one, byte for byte, if it was sent."""
    incident = db.session.scalar(select(Incident).where(Incident.reference == reference))
    if incident is None:
        raise click.ClickException(f"no incident {reference}")
    if not incident.proposals:
        raise click.ClickException(f"{reference} has no proposal")
    revision = max(incident.proposals, key=lambda p: p.id).current
    frozen = sending.frozen_pdf(revision)
    if frozen is not None:
        output.write_bytes(frozen)
        click.echo(f"wrote {output} ({revision}, frozen when sent; SHA-256 {revision.pdf_sha256})")
        return
    output.write_bytes(pdf.render_proposal_pdf(revision, draft=pdf.is_draft(revision)))
    click.echo(f"wrote {output} ({revision}, {revision.status.label.lower()})")
