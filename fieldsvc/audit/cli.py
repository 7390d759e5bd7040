"""`flask --app fieldsvc audit ...`: verify, anchor and (once) seal the audit trail."""

from pathlib import Path

import click
from flask import Blueprint, current_app

from fieldsvc.audit import anchors as anchoring
from fieldsvc.audit import services
from fieldsvc.audit.verification import Verification, verify_trail
from fieldsvc.extensions import db

bp = Blueprint("audit", __name__, cli_group="audit")
SHOWN_PROBLEMS = 20


@bp.cli.command("verify")
@click.option(
    "--anchors",
    "anchor_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A file of anchors (JSON lines, or saved anchor e-mails); may be repeated. "
    "Default: FIELDSVC_AUDIT_ANCHOR_FILE when it exists.",
)
def verify(anchor_files: tuple[Path, ...]) -> None:
    """Check every event's MAC and link, and the anchors; exit 1 naming what is wrong."""
    anchor_files, anchors = _read_anchors(anchor_files, "audit trail NOT VERIFIED")
    report = verify_trail(anchors)
    if not report.intact:
        click.echo(f"audit trail BROKEN: {_problems(report.problem_count)}", err=True)
        for problem in report.problems[:SHOWN_PROBLEMS]:
            click.echo(f"  {problem}", err=True)
        if report.problem_count > SHOWN_PROBLEMS:
            click.echo(f"  … and {report.problem_count - SHOWN_PROBLEMS} more", err=True)
        raise SystemExit(1)
    click.echo(f"audit trail intact: {report.checked} events checked")
    click.echo(_details(report, anchor_files))


@bp.cli.command("anchor")
@click.option(
    "--to",
    "destinations",
    multiple=True,
    type=click.Choice(["file", "stdout", "email"]),
    default=("file",),
    show_default=True,
    help="Where to record the head; may be repeated.",
)
@click.option(
    "--file",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The anchor file (default: FIELDSVC_AUDIT_ANCHOR_FILE).",
)
@click.option("--email-to", help="The address (default: FIELDSVC_AUDIT_ANCHOR_EMAIL).")
def anchor(destinations: tuple[str, ...], path: Path | None, email_to: str | None) -> None:
    """Record the trail's newest event (sequence, id, MAC, time) outside the database."""
    address = email_to or current_app.config["AUDIT_ANCHOR_EMAIL"]
    if "email" in destinations and not address:
        raise click.UsageError("--to email needs --email-to or FIELDSVC_AUDIT_ANCHOR_EMAIL")
    try:
        head = anchoring.anchor_head()
    except anchoring.AnchorRefused as refused:
        click.echo(f"not anchored: {refused}", err=True)
        raise SystemExit(1) from refused
    # With --to stdout, standard output carries the anchor alone (for a log collector),
    # and only failures are told (on stderr), so cron mails nothing while all is well.
    quiet = "stdout" in destinations
    failed = False
    for destination in dict.fromkeys(destinations):
        if destination == "stdout":
            click.echo(head.to_json())
        elif destination == "file":
            target = path or Path(current_app.config["AUDIT_ANCHOR_FILE"])
            anchoring.append_to_file(head, target)
            if not quiet:
                click.echo(f"anchored event #{head.seq} in {target}")
        else:
            email, delivered = anchoring.email_anchor(head, address)
            if delivered and not quiet:
                click.echo(f"anchored event #{head.seq} by e-mail to {address}")
            elif not delivered:
                failed = True
                click.echo(
                    f"anchor e-mail to {address} not delivered ({email.last_error}); "
                    "`flask --app fieldsvc mail retry` will send it",
                    err=True,
                )
    if failed:
        raise SystemExit(1)


@bp.cli.command("reseal")
@click.option(
    "--from-plain",
    is_flag=True,
    required=True,
    help="Verify the plain SHA-256 chain written before sealing, then seal it.",
)
@click.option(
    "--anchors",
    "anchor_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Anchors to verify against first (default: FIELDSVC_AUDIT_ANCHOR_FILE if it exists).",
)
def reseal(from_plain: bool, anchor_files: tuple[Path, ...]) -> None:
    """Move a trail from before sealing over: verify it, then vouch for its plain chain
    with one sealed event (no event is changed)."""
    _, anchors = _read_anchors(anchor_files, "not sealed")
    try:
        seal = services.reseal_plain_chain(anchors)
    except services.ResealRefused as refused:
        db.session.rollback()
        click.echo(f"not sealed: {refused}", err=True)
        for problem in refused.problems[:SHOWN_PROBLEMS]:
            click.echo(f"  {problem}", err=True)
        raise SystemExit(1) from refused
    db.session.commit()
    click.echo(
        f"sealed: events #1 to #{seal.changes['plain_head_seq']} verified and vouched for by "
        f"event #{seal.seq} (key '{seal.key_id}')"
    )


def _read_anchors(
    anchor_files: tuple[Path, ...], failure: str
) -> tuple[tuple[Path, ...], list[anchoring.Anchor]]:
    if not anchor_files:
        configured = Path(current_app.config["AUDIT_ANCHOR_FILE"])
        anchor_files = (configured,) if configured.is_file() else ()
    try:
        return anchor_files, [a for path in anchor_files for a in anchoring.read_anchors(path)]
    except anchoring.AnchorFileError as error:
        click.echo(f"{failure}: {error}", err=True)
        raise SystemExit(1) from error


def _problems(count: int) -> str:
    return f"{count} problem{'' if count == 1 else 's'}"


def _details(report: Verification, anchor_files: tuple[Path, ...]) -> str:
    keys = ", ".join(f"{count} with key '{key}'" for key, count in report.sealed_by.items())
    lines = [f"  sealed: {keys or 'none'}"]
    if report.plain_events:
        lines.append(
            f"  {report.plain_events} plain events from before sealing, "
            f"vouched for by event #{report.seal_seq}"
        )
    if anchor_files:
        files = ", ".join(str(path) for path in anchor_files)
        lines.append(f"  {report.anchors_checked} anchors checked ({files})")
    else:
        lines.append(
            "  no anchors checked: deleting the newest events cannot be detected without them "
            "(see `flask --app fieldsvc audit anchor`)"
        )
    return "\n".join(lines)
