"""Moving an existing local store into a bucket: every file verified against the SHA-256
the database recorded, safe to run again, and the app switched to the bucket serves the
same bytes."""

import hashlib
import urllib.request

import pytest

from fieldsvc.extensions import db
from fieldsvc.incidents.models import Attachment
from fieldsvc.proposals.models import ProposalRevision
from fieldsvc.storage import EXTENSION_KEY, LocalStorage, S3Storage
from tests.backup.story import tell_the_story


@pytest.fixture
def story(app):
    return tell_the_story()


@pytest.fixture
def bucket_config(app, s3_server):
    """The bucket settings, while the app still stores locally (as before the move)."""
    settings = s3_server.config(s3_server.new_bucket())
    app.config.update({**settings, "STORAGE": "local"})
    return settings


def bucket_sha256(bucket_config, key: str) -> str:
    from tests.s3 import S3Server

    server = S3Server(bucket_config["S3_ENDPOINT_URL"])
    data = server.client().get_object(Bucket=bucket_config["S3_BUCKET"], Key=key)["Body"].read()
    return hashlib.sha256(data).hexdigest()


def switch_to_bucket(app, bucket_config, reads: str) -> None:
    app.config.update({**bucket_config, "STORAGE_READS": reads})
    app.extensions.pop(EXTENSION_KEY, None)


def test_copying_puts_every_file_in_the_bucket_with_the_recorded_sha256(
    app, runner, story, bucket_config
):
    result = runner.invoke(args=["storage", "copy-to-bucket"])

    assert result.exit_code == 0, result.output
    # Two photos with their thumbnails and the frozen PDF.
    assert "5 files named by the database: 5 copied, 0 already in the bucket, 0 not copied" in (
        result.output
    )
    revision = db.session.get(ProposalRevision, story.revision_id)
    assert bucket_sha256(bucket_config, revision.pdf_key) == revision.pdf_sha256
    for attachment_id in story.attachment_ids:
        photo = db.session.get(Attachment, attachment_id)
        assert bucket_sha256(bucket_config, photo.storage_key) == photo.sha256


def test_copying_again_copies_nothing_and_resumes_where_a_run_stopped(
    app, runner, story, bucket_config
):
    assert runner.invoke(args=["storage", "copy-to-bucket"]).exit_code == 0
    bucket = S3Storage.from_config(app.config)
    photo = db.session.get(Attachment, story.attachment_ids[0])
    bucket.delete(photo.storage_key)  # as if the first run stopped before this one

    result = runner.invoke(args=["storage", "copy-to-bucket"])

    assert result.exit_code == 0, result.output
    assert "1 copied, 4 already in the bucket, 0 not copied" in result.output
    assert bucket_sha256(bucket_config, photo.storage_key) == photo.sha256


def test_a_local_file_that_no_longer_matches_the_database_is_not_copied_and_fails_the_run(
    app, runner, story, bucket_config, upload_dir
):
    revision = db.session.get(ProposalRevision, story.revision_id)
    LocalStorage(upload_dir).put(revision.pdf_key, b"%PDF-1.7 not what the customer got")
    missing = db.session.get(Attachment, story.attachment_ids[1])
    LocalStorage(upload_dir).delete(missing.thumbnail_key)

    result = runner.invoke(args=["storage", "copy-to-bucket"])

    assert result.exit_code == 1
    assert f"frozen PDF {revision.pdf_key}: its SHA-256 is" in result.output
    assert f"the database recorded {revision.pdf_sha256}; not copied" in result.output
    assert f"thumbnail {missing.thumbnail_key}: missing from the local store" in result.output
    assert "3 copied, 0 already in the bucket, 2 not copied" in result.output
    assert not S3Storage.from_config(app.config).exists(revision.pdf_key)


@pytest.mark.parametrize("reads", ["stream", "redirect"])
def test_after_the_move_the_app_serves_the_same_photo_and_pdf_bytes_from_the_bucket(
    app, client, runner, story, bucket_config, upload_dir, reads
):
    revision = db.session.get(ProposalRevision, story.revision_id)
    photo = db.session.get(Attachment, story.attachment_ids[1])
    local = LocalStorage(upload_dir)
    before = {key: local.get(key) for key in (revision.pdf_key, photo.storage_key)}
    assert runner.invoke(args=["storage", "copy-to-bucket"]).exit_code == 0
    switch_to_bucket(app, bucket_config, reads)
    for key in before:
        local.delete(key)  # what is served now can only come from the bucket

    client.sign_in("supervisor@example.com", "demo")
    pdf = client.get(f"/proposals/{revision.proposal_id}/revisions/{revision.number}/proposal.pdf")
    shown = client.get(f"/incidents/{photo.incident_id}/photos/{photo.id}")

    for answer, key, content_type in (
        (pdf, revision.pdf_key, "application/pdf"),
        (shown, photo.storage_key, photo.content_type),
    ):
        if reads == "stream":
            assert answer.status_code == 200
            assert answer.headers["Content-Type"] == content_type
            body = answer.get_data()
        else:
            assert answer.status_code == 302
            assert answer.headers["Cache-Control"] == "private, no-store"
            with urllib.request.urlopen(answer.headers["Location"]) as fetched:
                assert fetched.headers["Content-Type"] == content_type
                body = fetched.read()
        assert body == before[key]
    assert hashlib.sha256(before[revision.pdf_key]).hexdigest() == revision.pdf_sha256


def test_a_photo_in_the_bucket_is_not_served_to_someone_who_may_not_see_the_incident(
    app, client, runner, story, bucket_config, signed_in, make_team
):
    from fieldsvc.auth.models import Role

    assert runner.invoke(args=["storage", "copy-to-bucket"]).exit_code == 0
    switch_to_bucket(app, bucket_config, "redirect")
    photo = db.session.get(Attachment, story.attachment_ids[0])

    signed_in(Role.TECHNICIAN, team=make_team())  # another team's technician
    answer = client.get(f"/incidents/{photo.incident_id}/photos/{photo.id}")

    assert answer.status_code == 404
    assert "Location" not in answer.headers
