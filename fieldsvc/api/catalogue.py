"""Suppliers and the parts catalogue: read by every role, created and changed by admins,
as on their pages, through the same save_record() and the catalogue's own checks
(a part number once in the catalogue, whole-cent prices)."""

from dataclasses import dataclass
from typing import Any

import marshmallow as ma
from flask import url_for
from flask_smorest import abort
from marshmallow import fields, validate
from sqlalchemy import or_, select

from fieldsvc import records
from fieldsvc.api import auth, etags, schemas
from fieldsvc.api.blueprints import ApiBlueprint
from fieldsvc.auth.models import Role
from fieldsvc.extensions import db
from fieldsvc.parts.models import Part, Supplier

blp = ApiBlueprint(
    "api_catalogue",
    __name__,
    tag="Suppliers and parts catalogue",
    description="Suppliers and the parts catalogue (scope parts:read / write)",
)
READ = "parts:read"
WRITE = "parts:write"


class SupplierIn(ma.Schema):
    name = schemas.required_text(200)
    email = fields.Email(allow_none=True, load_default=None, validate=validate.Length(max=254))
    phone = schemas.text(50, allow_none=True, load_default=None)
    notes = schemas.text(5000, allow_none=True, load_default=None)


class SupplierOut(SupplierIn):
    class Meta:
        name = "Supplier"

    id = fields.Integer()
    active = fields.Boolean()


class PartIn(ma.Schema):
    number = schemas.required_text(60, metadata={"description": "Unique in the catalogue"})
    description = schemas.required_text(300)
    list_price = schemas.Money(required=True, metadata={"description": 'e.g. "350.00"'})


class PartOut(PartIn):
    class Meta:
        name = "Part"

    id = fields.Integer()
    active = fields.Boolean()


@dataclass(frozen=True)
class Kind:
    url: str  # "suppliers"
    record: str  # the RecordType key: "supplier"
    model: type
    body: type[ma.Schema]
    out: type[ma.Schema]


KINDS = (
    Kind("suppliers", "supplier", Supplier, SupplierIn, SupplierOut),
    Kind("parts", "part", Part, PartIn, PartOut),
)


def _get(kind: Kind, record_id: int) -> Any:
    obj = db.session.get(kind.model, record_id)
    if obj is None:
        abort(404, message=f"There is no {kind.record} {record_id}.")
    return obj


def _save(kind: Kind, obj: Any | None, data: dict[str, Any]) -> Any:
    # As the page's form gives them: text stripped, empty text as none.
    values = {
        name: (value.strip() or None) if isinstance(value, str) else value
        for name, value in data.items()
    }
    with auth.writing() as user:
        obj = records.save_record(records.REGISTRY[kind.record], obj, values, actor=user)
    db.session.commit()
    return obj


def _list(kind: Kind, args: dict[str, Any]) -> dict[str, Any]:
    rt = records.REGISTRY[kind.record]
    stmt = select(kind.model).order_by(kind.model.id).limit(args["limit"] + 1)
    if args.get("after_id"):
        stmt = stmt.where(kind.model.id > args["after_id"])
    if args["show"] != "all":
        stmt = stmt.where(kind.model.active.is_(args["show"] == "active"))
    if query := args["q"].strip():
        stmt = stmt.where(or_(*(col.icontains(query, autoescape=True) for col in rt.search)))
    items = list(db.session.scalars(stmt))
    more = len(items) > args["limit"]
    items = items[: args["limit"]]
    return {"items": items, "next_after_id": items[-1].id if more else None}


def _register(kind: Kind) -> None:
    name, one = kind.record, kind.out
    page = schemas.page_of(one, f"{one.Meta.name}Page")

    @blp.route(f"/{kind.url}", methods=["GET"], endpoint=f"list_{name}")
    @blp.arguments(schemas.ReferenceListArgs, location="query")
    @blp.response(200, page)
    @blp.doc(summary=f"List {kind.url}, oldest first (keyset paging by id)")
    @auth.requires(READ)
    def list_view(args):
        return _list(kind, args)

    @blp.route(f"/{kind.url}", methods=["POST"], endpoint=f"create_{name}")
    @blp.arguments(kind.body)
    @blp.response(201, one)
    @blp.doc(summary=f"Add a {name} (admins)")
    @auth.requires(WRITE, Role.ADMIN)
    def create_view(data):
        obj = _save(kind, None, data)
        location = url_for(f"api_catalogue.get_{name}", record_id=obj.id)
        return etags.answer(one, obj, 201, location=location)

    @blp.route(f"/{kind.url}/<int:record_id>", methods=["GET"], endpoint=f"get_{name}")
    @blp.response(200, one)
    @blp.doc(summary=f"Read a {name}; its ETag goes in If-Match when you change it")
    @auth.requires(READ)
    def get_view(record_id):
        return etags.answer(one, _get(kind, record_id))

    @blp.route(f"/{kind.url}/<int:record_id>", methods=["PUT"], endpoint=f"update_{name}")
    @blp.arguments(kind.body)
    @blp.response(200, one)
    @blp.doc(summary=f"Replace a {name}'s fields (admins); If-Match: 412 if changed since")
    @auth.requires(WRITE, Role.ADMIN)
    def update_view(data, record_id):
        obj = _get(kind, record_id)
        etags.check_if_match(one, obj)
        return etags.answer(one, _save(kind, obj, data))


for _kind in KINDS:
    _register(_kind)
