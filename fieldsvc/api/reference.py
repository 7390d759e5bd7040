"""Customers, sites, contacts and equipment: read by every role, written by admins,
through the same save_record() and checks as the reference-data pages. Each can be
created or updated by its external id, so an ERP's sync run twice makes one record."""

from dataclasses import dataclass
from typing import Any

import marshmallow as ma
from flask import url_for
from flask_smorest import abort
from sqlalchemy import or_, select

from fieldsvc import records
from fieldsvc.api import auth, etags, schemas
from fieldsvc.api.blueprints import ApiBlueprint
from fieldsvc.auth.models import Role
from fieldsvc.customers import services
from fieldsvc.customers.models import Contact, Customer, Equipment, Site
from fieldsvc.customers.services import PARENTS, Parent
from fieldsvc.extensions import db

blp = ApiBlueprint(
    "api_reference",
    __name__,
    tag="Customers, sites, contacts, equipment",
    description="Customers, sites, contacts and equipment (scope customers:read / write)",
)
READ = "customers:read"
WRITE = "customers:write"


@dataclass(frozen=True)
class Kind:
    url: str  # "equipment"
    record: str  # the RecordType key: "equipment"
    model: type
    out: type[ma.Schema]
    create: type[ma.Schema]
    sync: type[ma.Schema]  # the body of PUT by-external-id: a parent by id or external id
    parent: Parent | None


def _sync_schema(base: type[ma.Schema], parent: Parent | None, name: str) -> type[ma.Schema]:
    """The body of a sync: the record's fields, its parent by our id or by its external
    id (an ERP knows its own ids), never its own external id (that is in the URL)."""
    if parent is None:
        return base
    fields = {
        key: field
        for key, field in base._declared_fields.items()
        if key not in (parent.field, "external_id")
    }
    fields[parent.field] = schemas.Id(load_default=None)
    fields[f"{parent.noun}_external_id"] = ma.fields.String(
        load_default=None, validate=ma.validate.Length(min=1, max=100)
    )
    return ma.Schema.from_dict(fields, name=name)


KINDS = {
    kind.url: kind
    for kind in (
        Kind(
            "customers",
            "customer",
            Customer,
            schemas.Customer,
            schemas.CustomerCreate,
            schemas.CustomerIn,
            None,
        ),
        Kind(
            "sites",
            "site",
            Site,
            schemas.Site,
            schemas.SiteCreate,
            _sync_schema(schemas.SiteIn, PARENTS["site"], "SiteSync"),
            PARENTS["site"],
        ),
        Kind(
            "contacts",
            "contact",
            Contact,
            schemas.Contact,
            schemas.ContactCreate,
            _sync_schema(schemas.ContactIn, PARENTS["contact"], "ContactSync"),
            PARENTS["contact"],
        ),
        Kind(
            "equipment",
            "equipment",
            Equipment,
            schemas.Equipment,
            schemas.EquipmentCreate,
            _sync_schema(schemas.EquipmentIn, PARENTS["equipment"], "EquipmentSync"),
            PARENTS["equipment"],
        ),
    )
}


def _get(kind: Kind, record_id: int) -> Any:
    obj = db.session.get(kind.model, record_id)
    if obj is None:
        abort(404, message=f"There is no {kind.record} {record_id}.")
    return obj


def _save(kind: Kind, obj: Any | None, data: dict[str, Any]) -> Any:
    with auth.writing() as user:
        obj = services.sync_record(kind.record, obj, data, actor=user)
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


def _a(noun: str) -> str:
    return f"an {noun}" if noun[0] in "aeiou" else f"a {noun}"


def _register(kind: Kind) -> None:
    name = kind.record
    page = schemas.page_of(kind.out, f"{kind.out.__name__}Page")
    one = kind.out

    @blp.route(f"/{kind.url}", methods=["GET"], endpoint=f"list_{name}")
    @blp.arguments(schemas.ReferenceListArgs, location="query")
    @blp.response(200, page)
    @blp.doc(summary=f"List {kind.url}, oldest first (keyset paging by id)")
    @auth.requires(READ)
    def list_view(args):
        return _list(kind, args)

    @blp.route(f"/{kind.url}", methods=["POST"], endpoint=f"create_{name}")
    @blp.arguments(kind.create)
    @blp.response(201, one)
    @blp.doc(summary=f"Create {_a(name)} (admins)")
    @auth.requires(WRITE, Role.ADMIN)
    def create_view(data):
        obj = _save(kind, None, data)
        return etags.answer(
            one, obj, 201, location=url_for(f"api_reference.get_{name}", record_id=obj.id)
        )

    @blp.route(f"/{kind.url}/<int:record_id>", methods=["GET"], endpoint=f"get_{name}")
    @blp.response(200, one)
    @blp.doc(summary=f"Read {_a(name)}; its ETag goes in If-Match when you change it")
    @auth.requires(READ)
    def get_view(record_id):
        return etags.answer(one, _get(kind, record_id))

    @blp.route(f"/{kind.url}/<int:record_id>", methods=["PUT"], endpoint=f"update_{name}")
    @blp.arguments(kind.create)
    @blp.response(200, one)
    @blp.doc(summary=f"Replace {_a(name)}'s fields (admins); If-Match: 412 if changed since")
    @auth.requires(WRITE, Role.ADMIN)
    def update_view(data, record_id):
        obj = _get(kind, record_id)
        etags.check_if_match(one, obj)
        return etags.answer(one, _save(kind, obj, data))

    @blp.route(
        f"/{kind.url}/by-external-id/<string(maxlength=100):external_id>",
        methods=["GET"],
        endpoint=f"get_{name}_by_external_id",
    )
    @blp.response(200, one)
    @blp.doc(summary=f"Read {_a(name)} by its external id")
    @auth.requires(READ)
    def get_external_view(external_id):
        obj = db.session.scalar(select(kind.model).where(kind.model.external_id == external_id))
        if obj is None:
            abort(404, message=f"There is no {name} with external id {external_id}.")
        return etags.answer(one, obj)

    @blp.route(
        f"/{kind.url}/by-external-id/<string(maxlength=100):external_id>",
        methods=["PUT"],
        endpoint=f"sync_{name}",
    )
    @blp.arguments(kind.sync)
    @blp.response(200, one)
    @blp.alt_response(201, schema=one, description="Created: no record had this external id")
    @blp.doc(
        summary=f"Create or update {_a(name)} by its external id (admins): run twice, one {name}"
    )
    @auth.requires(WRITE, Role.ADMIN)
    def sync_view(data, external_id):
        obj = services.find_by_external_id(kind.record, external_id)
        if obj is not None:
            etags.check_if_match(one, obj)
        saved = _save(kind, obj, {**data, "external_id": external_id})
        return etags.answer(one, saved, 200 if obj is not None else 201)


for _kind in KINDS.values():
    _register(_kind)
