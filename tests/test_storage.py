import os
from pathlib import Path

import pytest

from fieldsvc import create_app
from fieldsvc.storage import LocalStorage, get_storage

KEY = "incidents/12/3f2a9c.jpg"


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "uploads")


def test_a_file_put_can_be_read_back_then_deleted(storage):
    storage.put(KEY, b"jpeg bytes")

    assert storage.exists(KEY)
    assert storage.get(KEY) == b"jpeg bytes"
    assert (storage.root / "incidents" / "12" / "3f2a9c.jpg").read_bytes() == b"jpeg bytes"

    storage.delete(KEY)
    assert not storage.exists(KEY)


def test_putting_again_replaces_the_file_and_leaves_no_temporary_files(storage):
    storage.put(KEY, b"first")
    storage.put(KEY, b"second")

    assert storage.get(KEY) == b"second"
    assert os.listdir(storage.root / "incidents" / "12") == ["3f2a9c.jpg"]


def test_a_failed_write_keeps_the_old_file(storage, monkeypatch):
    storage.put(KEY, b"first")

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        storage.put(KEY, b"second")

    assert storage.get(KEY) == b"first"
    assert os.listdir(storage.root / "incidents" / "12") == ["3f2a9c.jpg"]


def test_reading_a_missing_key_raises_file_not_found(storage):
    assert not storage.exists(KEY)
    with pytest.raises(FileNotFoundError):
        storage.get(KEY)


def test_deleting_a_missing_key_is_fine(storage):
    storage.delete(KEY)

    assert not storage.exists(KEY)


@pytest.mark.parametrize(
    "key",
    [
        "../outside.jpg",
        "incidents/../../outside.jpg",
        "/etc/passwd",
        "incidents\\12\\a.jpg",
        "incidents//a.jpg",
        "incidents/12/",
        "./a.jpg",
        "",
    ],
)
def test_keys_that_could_leave_the_root_are_refused(storage, tmp_path, key):
    for use in (
        lambda: storage.put(key, b"x"),
        lambda: storage.get(key),
        lambda: storage.delete(key),
        lambda: storage.exists(key),
    ):
        with pytest.raises(ValueError, match="not a storage key"):
            use()
    assert list(tmp_path.iterdir()) == []


def test_the_app_stores_uploads_in_upload_dir(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "x",
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            "UPLOAD_DIR": str(tmp_path),
        }
    )
    with app.app_context():
        storage = get_storage()
        storage.put(KEY, b"jpeg bytes")

        assert isinstance(storage, LocalStorage)
        assert storage.root == tmp_path
        assert get_storage() is storage
    assert (tmp_path / KEY).read_bytes() == b"jpeg bytes"


def test_uploads_default_to_the_instance_folder(monkeypatch):
    monkeypatch.delenv("FIELDSVC_UPLOAD_DIR", raising=False)
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})

    assert app.config["UPLOAD_DIR"] == str(Path(app.instance_path) / "uploads")
