"""An incident's photos through the API, as on the incident page: the incident's team
sees every photo, those kept for us and those shown to the customer (each says which);
an upload is checked by what its bytes are, its size and pixels, and re-encoded without
metadata (incidents/photos.py), and is kept for us unless it says otherwise. The same
Idempotency-Key again returns the photo the first upload stored."""

from typing import Any

import marshmallow as ma
from flask import current_app, url_for
from flask_smorest import abort
from flask_smorest.fields import Upload
from marshmallow import fields

from fieldsvc.api import auth
from fieldsvc.api.incidents import READ, WRITE, IdempotencyHeaders, blp, visible_incident_or_404
from fieldsvc.api.schemas import Moment, text
from fieldsvc.extensions import db
from fieldsvc.incidents import services
from fieldsvc.incidents.models import CAPTION_MAX, Attachment, Incident
from fieldsvc.incidents.photos import process_photo
from fieldsvc.storage import stored_file_response

BINARY = {"type": "string", "format": "binary"}


class PhotoOut(ma.Schema):
    class Meta:
        name = "Photo"

    id = fields.Integer()
    filename = fields.String()
    content_type = fields.String(metadata={"description": "image/jpeg or image/png"})
    size = fields.Integer(metadata={"description": "Bytes, after re-encoding"})
    width = fields.Integer()
    height = fields.Integer()
    sha256 = fields.String()
    shown_to_customer = fields.Boolean(
        metadata={
            "description": "Shown in the proposal PDF and on the status page; false: kept for us"
        }
    )
    caption = fields.String(allow_none=True)
    uploaded_by = fields.String(attribute="uploaded_by.name")
    uploaded_at = Moment()
    url = fields.Method("_url")
    thumbnail_url = fields.Method("_thumbnail_url")

    def _url(self, photo: Attachment) -> str:
        return url_for("api_incidents.get_photo", incident_id=photo.incident_id, photo_id=photo.id)

    def _thumbnail_url(self, photo: Attachment) -> str:
        return url_for(
            "api_incidents.get_photo_thumbnail", incident_id=photo.incident_id, photo_id=photo.id
        )


class PhotoUpload(ma.Schema):
    photo = Upload(required=True, metadata={"description": "A JPEG, PNG or WebP photo"})
    shown_to_customer = fields.Boolean(
        load_default=False,
        metadata={"description": "Show it to the customer (default: kept for us)"},
    )
    caption = text(CAPTION_MAX, load_default=None)


def _photo_or_404(incident: Incident, photo_id: int) -> Attachment:
    photo = db.session.get(Attachment, photo_id)
    if photo is None or photo.incident_id != incident.id:
        abort(404, message="No such photo on this incident.")
    return photo


def _image(key: str, content_type: str, photo: Attachment):
    return stored_file_response(
        key,
        content_type=content_type,
        disposition=f'inline; filename="{photo.filename}"',
        headers={"Cache-Control": "private, max-age=86400", "ETag": f'"{photo.sha256}"'},
    )


@blp.route("/incidents/<int:incident_id>/photos", methods=["GET"])
@blp.response(200, PhotoOut(many=True))
@blp.doc(summary="The incident's photos, oldest first: each says whether the customer sees it")
@auth.requires(READ)
def list_photos(incident_id: int):
    return sorted(visible_incident_or_404(incident_id).attachments, key=lambda photo: photo.id)


@blp.route("/incidents/<int:incident_id>/photos", methods=["POST"])
@blp.arguments(IdempotencyHeaders, location="headers")
@blp.arguments(PhotoUpload, location="form_and_files")
@blp.response(201, PhotoOut)
@blp.alt_response(200, schema=PhotoOut, description="Already stored by a request with this key")
@blp.doc(
    summary="Add a photo (multipart/form-data): checked by its content, at most the "
    "configured size, re-encoded without metadata (GPS, camera); send an Idempotency-Key "
    "to make retries safe"
)
@auth.requires(WRITE)
def add_photo(headers: dict[str, Any], form: dict[str, Any], incident_id: int):
    incident = visible_incident_or_404(incident_id)
    key = headers.get("idempotency_key")
    if earlier := services.find_uploaded_photos(auth.caller(), key):
        return earlier[0], 200
    limit = current_app.config["MAX_PHOTO_BYTES"]
    upload = form["photo"]
    photo = process_photo(
        upload.stream.read(limit + 1),
        upload.filename or "photo",
        max_bytes=limit,
        max_pixels=current_app.config["MAX_PHOTO_PIXELS"],
    )
    choice = services.PhotoChoice(form["shown_to_customer"], form["caption"])
    with auth.writing() as user:
        [attached] = services.attach_photos(
            incident, [photo], actor=user, choices=[choice], submission_key=key
        )
    db.session.commit()
    location = url_for("api_incidents.get_photo", incident_id=incident.id, photo_id=attached.id)
    return attached, 201, {"Location": location}


@blp.route("/incidents/<int:incident_id>/photos/<int:photo_id>", methods=["GET"])
@blp.alt_response(302, description="Sent to the bucket's short-lived URL for the file")
@blp.doc(
    summary="The photo itself (JPEG, or PNG for a drawing or screenshot)",
    responses={
        "200": {
            "description": "The photo as stored",
            "content": {"image/jpeg": {"schema": BINARY}, "image/png": {"schema": BINARY}},
        }
    },
)
@auth.requires(READ)
def get_photo(incident_id: int, photo_id: int):
    photo = _photo_or_404(visible_incident_or_404(incident_id), photo_id)
    return _image(photo.storage_key, photo.content_type, photo)


@blp.route("/incidents/<int:incident_id>/photos/<int:photo_id>/thumbnail", methods=["GET"])
@blp.response(200, BINARY, content_type="image/jpeg", description="A JPEG at most 320 px")
@blp.alt_response(302, description="Sent to the bucket's short-lived URL for the file")
@blp.doc(summary="The photo's thumbnail")
@auth.requires(READ)
def get_photo_thumbnail(incident_id: int, photo_id: int):
    photo = _photo_or_404(visible_incident_or_404(incident_id), photo_id)
    return _image(photo.thumbnail_key, "image/jpeg", photo)
