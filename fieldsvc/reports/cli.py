"""`flask --app fieldsvc reports ...`: check and rebuild the figures the reports keep."""

import click
from flask import Blueprint

from fieldsvc import clock
from fieldsvc.extensions import db
from fieldsvc.incidents import search
from fieldsvc.reports import months, rollups, steps

bp = Blueprint("reports_cli", __name__, cli_group="reports")


@bp.cli.command("verify")
def verify() -> None:
    """Compare the kept report figures with the facts; exit 1 naming what differs."""
    check = rollups.verify(db.session.connection())
    if not check.intact:
        click.echo("report figures DIFFER from the facts:", err=True)
        for problem in check.problems:
            click.echo(f"  {problem}", err=True)
        raise SystemExit(1)
    click.echo(
        f"report figures match the facts: {check.incidents} incidents, "
        f"{check.entries} accepted revisions checked"
    )


@bp.cli.command("rebuild")
def rebuild() -> None:
    """Write the kept report figures again from the facts, for every incident, and add up
    the months in the company's time zone."""
    connection = db.session.connection()
    rollups.recompute(connection)
    months.rebuild(connection, clock.company_zone())
    steps.rebuild(connection)
    db.session.commit()
    # Only now: rebuilt in the transaction that rewrote them, the indexes would hold every
    # incident's old versions too, and be as slow once VACUUM removed them.
    searchable = search.rebuild_indexes(db.session.connection())
    db.session.commit()
    check = rollups.verify(db.session.connection())
    click.echo(
        f"report figures rebuilt: {check.incidents} incidents, {check.entries} accepted revisions"
    )
    if not searchable:
        click.echo(
            "the search indexes are slow for rare terms until rebuilt; as the tables' owner: "
            + "; ".join(f"REINDEX INDEX CONCURRENTLY {name}" for name in search.INDEXES),
            err=True,
        )
