"""`flask --app fieldsvc backup create|restore DIR` and `flask --app fieldsvc storage
copy-to-bucket`."""

from pathlib import Path

import click
from flask import Blueprint, current_app

from fieldsvc.backup import files, services
from fieldsvc.extensions import db
from fieldsvc.storage import LocalStorage, S3Storage, get_storage

bp = Blueprint("backup", __name__, cli_group="backup")
storage_bp = Blueprint("storage", __name__, cli_group="storage")
SHOWN_PROBLEMS = 20


@bp.cli.command("create")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def create(directory: Path) -> None:
    """Back up the SQLite database and the files it names into DIRECTORY (new or empty),
    while the app keeps running."""
    database_url = current_app.config["SQLALCHEMY_DATABASE_URI"]
    try:
        manifest = services.create_backup(
            directory, database_url=database_url, storage=get_storage()
        )
    except services.BackupRefused as refused:
        raise click.ClickException(str(refused)) from refused
    size = manifest.content["database"]["size"] + sum(f["size"] for f in manifest.files)
    click.echo(
        f"backup written to {directory}: the database ({services.sqlite_path(database_url)}) "
        f"and {len(manifest.files)} files, {size / 1e6:.1f} MB; manifest {manifest.path}"
    )


@bp.cli.command("restore")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database and files that exist.")
def restore(directory: Path, force: bool) -> None:
    """Check a backup against its manifest, then restore it into this (empty) instance."""
    database_url = current_app.config["SQLALCHEMY_DATABASE_URI"]
    db.engine.dispose()  # nothing of ours holds the file being replaced
    try:
        manifest = services.restore_backup(
            directory, database_url=database_url, storage=get_storage(), force=force
        )
    except services.BackupRefused as refused:
        raise click.ClickException(str(refused)) from refused
    click.echo(
        f"restored {directory} (made {manifest.content['created_at']}): the database into "
        f"{services.sqlite_path(database_url)} and {len(manifest.files)} files; "
        "run `flask db upgrade` if this version of fieldsvc is newer than the backup"
    )


@storage_bp.cli.command("copy-to-bucket")
@click.option(
    "--from",
    "source_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The local store to copy (default: FIELDSVC_UPLOAD_DIR).",
)
def copy_to_bucket(source_dir: Path | None) -> None:
    """Copy the local file store into the bucket FIELDSVC_S3_* names, verifying every file
    against the SHA-256 the database recorded; safe to run again (resumes)."""
    config = current_app.config
    if not config["S3_BUCKET"]:
        raise click.ClickException("set FIELDSVC_S3_BUCKET (and the other FIELDSVC_S3_*)")
    source = LocalStorage(source_dir or Path(config["UPLOAD_DIR"]))
    bucket = S3Storage.from_config(config)
    named = files.referenced_files(db.session)
    click.echo(f"copying from {source.root} into bucket {bucket.bucket}")
    report = files.copy_to_bucket(named, source, bucket)
    for problem in report.problems[:SHOWN_PROBLEMS]:
        click.echo(f"  {problem}", err=True)
    if len(report.problems) > SHOWN_PROBLEMS:
        click.echo(f"  … and {len(report.problems) - SHOWN_PROBLEMS} more", err=True)
    click.echo(report.summary(len(named)))
    if report.problems:
        raise SystemExit(1)
