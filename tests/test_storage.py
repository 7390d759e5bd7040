"""The storage contract, held by both backends: a local directory and an S3 bucket on a
real S3 API server (tests/s3.py)."""

import hashlib
import os
from pathlib import Path

import pytest

from fieldsvc import create_app
from fieldsvc.config import ConfigurationError
from fieldsvc.storage import LocalStorage, S3Storage, get_storage

KEY = "incidents/12/3f2a9c.jpg"


@pytest.fixture
def local(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "uploads")


@pytest.fixture
def bucket(s3_server) -> S3Storage:
    return S3Storage(s3_server.client(), s3_server.new_bucket())


@pytest.fixture(params=["local", "s3"])
def storage(request):
    return request.getfixturevalue("local" if request.param == "local" else "bucket")


def test_a_file_put_can_be_read_back_then_deleted(storage):
    storage.put(KEY, b"jpeg bytes")

    assert storage.exists(KEY)
    assert storage.get(KEY) == b"jpeg bytes"

    storage.delete(KEY)
    assert not storage.exists(KEY)


def test_putting_again_replaces_the_file(storage):
    storage.put(KEY, b"first")
    storage.put(KEY, b"second")

    assert storage.get(KEY) == b"second"


def test_a_local_file_lies_under_the_root_and_leaves_no_temporary_files(local):
    local.put(KEY, b"first")
    local.put(KEY, b"second")

    assert (local.root / "incidents" / "12" / "3f2a9c.jpg").read_bytes() == b"second"
    assert os.listdir(local.root / "incidents" / "12") == ["3f2a9c.jpg"]


def test_a_bucket_keeps_each_objects_content_type_and_sha256(bucket):
    photo, pdf = b"\xff\xd8 jpeg bytes", b"%PDF-1.7 frozen"
    bucket.put(KEY, photo)
    bucket.put("proposals/3/revision-1-ab12.pdf", pdf)

    head = bucket.client.head_object(Bucket=bucket.bucket, Key=KEY)
    assert head["ContentType"] == "image/jpeg"
    assert bucket.stored_sha256(KEY) == hashlib.sha256(photo).hexdigest()
    assert (
        bucket.stored_sha256("proposals/3/revision-1-ab12.pdf") == hashlib.sha256(pdf).hexdigest()
    )
    head = bucket.client.head_object(Bucket=bucket.bucket, Key="proposals/3/revision-1-ab12.pdf")
    assert head["ContentType"] == "application/pdf"
    assert bucket.stored_sha256("incidents/12/never-stored.jpg") is None


def test_the_bucket_refuses_an_upload_whose_bytes_do_not_match_their_sha256(bucket):
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match=r"BadDigest|InvalidDigest"):
        bucket.client.put_object(
            Bucket=bucket.bucket,
            Key=KEY,
            Body=b"what arrived",
            ChecksumSHA256="47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",  # of b""
        )

    assert not bucket.exists(KEY)


def test_a_presigned_url_serves_the_object_with_our_name_until_it_expires(bucket):
    import urllib.request

    bucket.put(KEY, b"jpeg bytes")
    url = bucket.url(
        KEY, content_type="image/jpeg", disposition='inline; filename="pt-107.jpg"', seconds=60
    )

    with urllib.request.urlopen(url) as answer:
        assert answer.read() == b"jpeg bytes"
        assert answer.headers["Content-Type"] == "image/jpeg"
        assert answer.headers["Content-Disposition"] == 'inline; filename="pt-107.jpg"'


def test_a_failed_write_keeps_the_old_file(local, monkeypatch):
    storage = local
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
    if isinstance(storage, S3Storage):
        assert "Contents" not in storage.client.list_objects_v2(Bucket=storage.bucket)


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


def test_the_app_stores_in_the_bucket_its_configuration_names(s3_server, tmp_path):
    bucket = s3_server.new_bucket()
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "x",
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            "UPLOAD_DIR": str(tmp_path),
            **s3_server.config(bucket),
        }
    )
    with app.app_context():
        get_storage().put(KEY, b"jpeg bytes")

        assert isinstance(get_storage(), S3Storage)
    assert s3_server.client().get_object(Bucket=bucket, Key=KEY)["Body"].read() == b"jpeg bytes"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"STORAGE": "s3"}, "FIELDSVC_S3_BUCKET"),
        ({"STORAGE": "disk"}, "FIELDSVC_STORAGE must be one of local, s3"),
        ({"STORAGE_READS": "proxy"}, "FIELDSVC_STORAGE_READS must be one of stream, redirect"),
        ({"S3_ACCESS_KEY_ID": "AKIA"}, "set together"),
        ({"S3_URL_SECONDS": 0}, "FIELDSVC_S3_URL_SECONDS"),
    ],
)
def test_storage_settings_that_cannot_work_are_refused_at_start(settings, message):
    with pytest.raises(ConfigurationError, match=message):
        create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", **settings})


@pytest.mark.parametrize("reads", ["redirect", "stream"])
def test_pages_let_photos_load_from_the_bucket_only_when_reads_are_redirected(
    s3_server, tmp_path, reads
):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "x",
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            **s3_server.config("photos"),
            "STORAGE_READS": reads,
        }
    )

    policy = app.test_client().get("/login").headers["Content-Security-Policy"]

    img_src = next(part for part in policy.split(";") if part.strip().startswith("img-src"))
    assert (s3_server.endpoint_url in img_src) == (reads == "redirect")
    assert "default-src 'self'" in policy
