"""Online backup of the embedded default while tablets keep writing, restored into a
fresh instance."""

import hashlib
import io
import json
import shutil
import threading
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from fieldsvc import create_app
from fieldsvc.backup import services
from fieldsvc.extensions import db
from fieldsvc.incidents.models import Incident
from fieldsvc.proposals.models import ProposalRevision
from fieldsvc.storage import get_storage
from tests import conftest
from tests.backup.story import photos, record_incident_with_photo, tell_the_story


def an_instance(directory: Path, *, migrated: bool = True):
    url = f"sqlite:///{directory / 'fieldsvc.sqlite3'}"
    directory.mkdir(parents=True, exist_ok=True)
    if migrated:
        conftest.migrate(url)
    return create_app(conftest.test_config(url, UPLOAD_DIR=str(directory / "uploads")))


@pytest.fixture(scope="module")
def busy_backup(tmp_path_factory):
    """The demo story, then a backup taken while a tablet keeps recording incidents with
    photos: (the original app, the backup directory, incidents recorded meanwhile)."""
    root = tmp_path_factory.mktemp("busy")
    app = an_instance(root / "original")
    with app.app_context():
        tell_the_story()
    recorded = []
    failures: list[BaseException] = []
    stop = threading.Event()
    started = threading.Event()

    def tablet() -> None:
        with app.app_context():
            n = 0
            try:
                while not stop.is_set():
                    n += 1
                    recorded.append(record_incident_with_photo(n).id)
                    started.set()
            except BaseException as error:  # shown by the test, not lost with the thread
                failures.append(error)
                started.set()
            finally:
                db.session.remove()

    writer = threading.Thread(target=tablet)
    writer.start()
    try:
        assert started.wait(120)
        result = app.test_cli_runner().invoke(args=["backup", "create", str(root / "backup")])
        assert result.exit_code == 0, result.output
        # The tablet wrote before the backup began, on while it ran (as far as this
        # machine interleaves them), and after it ended.
        written_by_then = len(recorded)
        while len(recorded) == written_by_then and writer.is_alive():
            threading.Event().wait(0.05)
    finally:
        stop.set()
        writer.join(60)
    assert not failures, failures
    assert len(recorded) > written_by_then
    return app, root / "backup", recorded


@pytest.fixture(scope="module")
def restored(busy_backup, tmp_path_factory):
    _, backup, _ = busy_backup
    app = an_instance(tmp_path_factory.mktemp("fresh") / "instance", migrated=False)
    result = app.test_cli_runner().invoke(args=["backup", "restore", str(backup)])
    assert result.exit_code == 0, result.output
    return app


def test_a_restored_backup_passes_audit_verify(restored):
    result = restored.test_cli_runner().invoke(args=["audit", "verify"])

    assert result.exit_code == 0, result.output
    assert "audit trail intact" in result.output


def test_every_frozen_pdf_comes_back_byte_identical(busy_backup, restored):
    original, _, _ = busy_backup
    with original.app_context():
        sent = {
            revision.pdf_key: get_storage().get(revision.pdf_key)
            for revision in db.session.scalars(
                select(ProposalRevision).where(ProposalRevision.pdf_key.is_not(None))
            )
        }
    with restored.app_context():
        revisions = db.session.scalars(
            select(ProposalRevision).where(ProposalRevision.pdf_key.is_not(None))
        ).all()
        assert [revision.pdf_key for revision in revisions] == list(sent)
        for revision in revisions:
            body = get_storage().get(revision.pdf_key)
            assert body == sent[revision.pdf_key]
            assert hashlib.sha256(body).hexdigest() == revision.pdf_sha256


def test_every_photo_the_restored_database_names_is_there_and_opens(busy_backup, restored):
    with restored.app_context():
        restored_photos = photos()
        # The story's two photos and those the tablet recorded before the snapshot.
        assert len(restored_photos) >= 3
        for photo in restored_photos:
            data = get_storage().get(photo.storage_key)
            assert hashlib.sha256(data).hexdigest() == photo.sha256
            with Image.open(io.BytesIO(data)) as image:
                image.verify()
            with Image.open(io.BytesIO(get_storage().get(photo.thumbnail_key))) as thumbnail:
                thumbnail.verify()


def test_the_backup_holds_what_its_snapshot_names_not_what_was_written_after(busy_backup, restored):
    original, backup, _ = busy_backup
    manifest = json.loads((backup / "manifest.json").read_text())
    with restored.app_context():
        kept = db.session.scalar(select(func.count()).select_from(Incident))
        keys = {photo.storage_key for photo in photos()} | {p.thumbnail_key for p in photos()}
        keys |= set(
            db.session.scalars(
                select(ProposalRevision.pdf_key).where(ProposalRevision.pdf_key.is_not(None))
            )
        )
    with original.app_context():
        everything = db.session.scalar(select(func.count()).select_from(Incident))
    assert kept < everything  # the tablet wrote on after the snapshot
    assert {entry["key"] for entry in manifest["files"]} == keys
    stored = {
        str(path.relative_to(backup / "files"))
        for path in (backup / "files").rglob("*")
        if path.is_file()
    }
    assert stored == keys


def test_restore_refuses_an_instance_that_holds_data_unless_forced(busy_backup, restored):
    _, backup, _ = busy_backup
    runner = restored.test_cli_runner()

    refused = runner.invoke(args=["backup", "restore", str(backup)])

    assert refused.exit_code == 1
    assert "already holds data; use --force to replace it" in refused.output
    assert runner.invoke(args=["backup", "restore", "--force", str(backup)]).exit_code == 0


def test_restore_refuses_a_backup_that_does_not_match_its_manifest(busy_backup, tmp_path):
    _, backup, _ = busy_backup
    damaged = tmp_path / "damaged"
    shutil.copytree(backup, damaged)
    manifest = json.loads((damaged / "manifest.json").read_text())
    photo = damaged / "files" / manifest["files"][0]["key"]
    photo.write_bytes(photo.read_bytes()[:-10])
    app = an_instance(tmp_path / "fresh", migrated=False)

    result = app.test_cli_runner().invoke(args=["backup", "restore", str(damaged)])

    assert result.exit_code == 1
    assert "does not match its manifest" in result.output
    assert f"{photo} has changed since the backup" in result.output
    assert not (tmp_path / "fresh" / "fieldsvc.sqlite3").exists()
    assert not (tmp_path / "fresh" / "uploads").exists()


def test_backup_refuses_a_directory_that_holds_files_and_a_postgresql_database(tmp_path):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "notes.txt").write_text("keep")
    with pytest.raises(services.BackupRefused, match="is not empty"):
        services.create_backup(
            tmp_path / "old", database_url=f"sqlite:///{tmp_path / 'x.sqlite3'}", storage=None
        )
    with pytest.raises(services.BackupRefused, match="use pg_dump or a base backup"):
        services.create_backup(
            tmp_path / "new", database_url="postgresql://app@db/fieldsvc", storage=None
        )


def test_a_photo_recorded_between_the_snapshot_and_the_file_copy_is_left_out_whole(
    busy_backup, tmp_path
):
    original, _, _ = busy_backup
    backup = tmp_path / "backup"
    backup.mkdir()
    with original.app_context():
        database = services.sqlite_path(original.config["SQLALCHEMY_DATABASE_URI"])
        services.snapshot_database(database, backup / services.DATABASE)
        late = record_incident_with_photo(999)
        late_photo = late.attachments[0].storage_key
        entries = services.copy_named_files(
            backup / services.DATABASE, get_storage(), backup / services.FILES
        )
        services.write_manifest(backup, backup / services.DATABASE, entries)
    fresh = an_instance(tmp_path / "fresh", migrated=False)

    result = fresh.test_cli_runner().invoke(args=["backup", "restore", str(backup)])

    assert result.exit_code == 0, result.output
    assert late_photo not in {entry["key"] for entry in entries}
    with fresh.app_context():
        assert db.session.get(Incident, late.id) is None
        for photo in photos():
            assert get_storage().exists(photo.storage_key)
            assert get_storage().exists(photo.thumbnail_key)
