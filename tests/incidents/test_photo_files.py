"""A photo's files live exactly as long as its row: a rolled-back transaction takes
its files with it, and a savepoint rolled back inside it takes only its own."""

import io

from PIL import Image

from fieldsvc.extensions import db
from fieldsvc.incidents import services
from fieldsvc.incidents.photos import process_photo


def _photo(colour: tuple[int, int, int]):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, "JPEG")
    return process_photo(buffer.getvalue(), "site.jpg", max_bytes=10**6, max_pixels=10**6)


def _files(upload_dir) -> set[str]:
    return {p.name for p in upload_dir.rglob("*") if p.is_file()} if upload_dir.exists() else set()


def test_rolled_back_photos_leave_no_files(make_incident, upload_dir):
    incident = make_incident()
    db.session.commit()

    services.attach_photos(incident, [_photo((200, 0, 0))], actor=incident.created_by)
    assert len(_files(upload_dir)) == 2  # the photo and its thumbnail
    db.session.rollback()

    assert _files(upload_dir) == set()


def test_a_savepoint_rolled_back_removes_only_its_own_files(make_incident, upload_dir):
    incident = make_incident()
    actor = incident.created_by
    services.attach_photos(incident, [_photo((0, 200, 0))], actor=actor)
    kept = _files(upload_dir)

    savepoint = db.session.begin_nested()
    services.attach_photos(incident, [_photo((0, 0, 200))], actor=actor)
    savepoint.rollback()
    db.session.commit()

    assert _files(upload_dir) == kept
    assert len(incident.attachments) == 1
