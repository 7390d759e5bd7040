"""Optimistic locking for the API: every read answers an ETag, and a write that sends
If-Match with an ETag that is no longer current is refused with 412, as a page's save
is refused when the record changed since the page was opened.

A record with a version column (a proposal revision) has that version in its ETag; the
others have a digest of what the API shows of them.
"""

import hashlib
import json
from typing import Any

import marshmallow as ma
from flask import request
from flask_smorest import abort


def etag_of(schema: type[ma.Schema], obj: Any) -> str:
    version = getattr(obj, "version", None)
    if isinstance(version, int):
        return f'"v{version}"'
    shown = json.dumps(schema().dump(obj), sort_keys=True, default=str)
    return '"' + hashlib.sha256(shown.encode()).hexdigest()[:32] + '"'


def if_match() -> list[str] | None:
    """The ETags the client sent in If-Match (None: it sent none)."""
    header = request.headers.get("If-Match")
    if header is None:
        return None
    return [tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()]


def check_if_match(schema: type[ma.Schema], obj: Any) -> None:
    """412 when If-Match names an ETag the record no longer has."""
    sent = if_match()
    if sent is None or "*" in sent:
        return
    if etag_of(schema, obj) not in sent:
        abort(
            412,
            message="Someone changed this record since you read it: nothing was saved. "
            "Read it again (GET) and send its new ETag in If-Match.",
        )


def require_if_match(schema: type[ma.Schema], obj: Any) -> None:
    """A write that must say which state it is based on: 428 without If-Match, 412 when
    the record changed since (a record without a version column)."""
    if not if_match():
        abort(
            428, message="Send If-Match with the ETag you read (GET), so no one's change is lost."
        )
    check_if_match(schema, obj)


def expected_version(required: bool = True) -> int | None:
    """The version a write to a versioned record is based on, from If-Match "v<n>"."""
    sent = if_match()
    if not sent:
        if required:
            abort(428, message='Send If-Match with the ETag you read (e.g. If-Match: "v3").')
        return None
    tag = sent[0].strip('"')
    if not tag.startswith("v") or not tag[1:].isdigit() or len(tag) > 11:
        abort(412, message="If-Match holds no ETag this record ever had; read it again.")
    return int(tag[1:])


def answer(schema: type[ma.Schema], obj: Any, status: int = 200, location: str | None = None):
    """A view's return: the record, its status, its ETag (and Location when created)."""
    headers = {"ETag": etag_of(schema, obj)}
    if location:
        headers["Location"] = location
    return obj, status, headers
