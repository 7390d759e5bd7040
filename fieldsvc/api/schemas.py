"""What the API reads and writes, as marshmallow schemas: flask-smorest validates the
input with them and generates the OpenAPI document from them."""

from datetime import UTC

import marshmallow as ma
from marshmallow import fields, validate

from fieldsvc.customers.models import EXTERNAL_ID_MAX
from fieldsvc.ranges import MAX_ID, TEXT_MAX


class Id(fields.Integer):
    """A record's id: a whole number from 1 to 2^31-1."""

    def __init__(self, **kwargs) -> None:
        super().__init__(strict=True, validate=validate.Range(1, MAX_ID), **kwargs)


class Money(fields.Decimal):
    """A decimal amount, written and read as a string ("350.00"): no float rounding."""

    def __init__(self, **kwargs) -> None:
        super().__init__(as_string=True, places=None, allow_nan=False, **kwargs)


class Moment(fields.AwareDateTime):
    """An ISO 8601 time; one without an offset is read as UTC."""

    def __init__(self, **kwargs) -> None:
        super().__init__(format="iso", default_timezone=UTC, **kwargs)


def text(max_length: int = TEXT_MAX, **kwargs) -> fields.String:
    return fields.String(validate=validate.Length(max=max_length), **kwargs)


def required_text(max_length: int = TEXT_MAX, **kwargs) -> fields.String:
    return fields.String(required=True, validate=validate.Length(min=1, max=max_length), **kwargs)


def external_id(**kwargs) -> fields.String:
    return fields.String(
        allow_none=True,
        validate=validate.Length(min=1, max=EXTERNAL_ID_MAX),
        metadata={"description": "The record's id in your ERP or CMMS (unique per kind)."},
        **kwargs,
    )


class Problem(ma.Schema):
    """RFC 9457 problem details, as every error is answered."""

    type = fields.String(metadata={"description": "about:blank: the status says it all"})
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    errors = fields.List(
        fields.Dict(keys=fields.String(), values=fields.String()),
        metadata={"description": "One {field, message} per value that was refused"},
    )


class PageArgs(ma.Schema):
    after_id = fields.Integer(
        strict=False,
        validate=validate.Range(0, MAX_ID),
        metadata={"description": "The `next_after_id` of the previous page"},
    )
    limit = fields.Integer(strict=False, load_default=50, validate=validate.Range(1, 200))


# --- customers, sites, contacts, equipment --------------------------------------------------


class CustomerIn(ma.Schema):
    name = required_text(200)
    team_id = Id(allow_none=True, load_default=None)
    notes = text(allow_none=True, load_default=None)


class Customer(CustomerIn):
    id = fields.Integer()
    external_id = external_id()
    active = fields.Boolean()


class CustomerCreate(CustomerIn):
    external_id = external_id(load_default=None)


class SiteIn(ma.Schema):
    customer_id = Id(required=True)
    name = required_text(200)
    address = required_text(1000)
    time_zone = fields.String(
        allow_none=True,
        load_default=None,
        validate=validate.Length(max=64),
        metadata={"description": "IANA name, e.g. America/New_York; null: the company's"},
    )


class Site(SiteIn):
    id = fields.Integer()
    external_id = external_id()
    active = fields.Boolean()


class SiteCreate(SiteIn):
    external_id = external_id(load_default=None)


class ContactIn(ma.Schema):
    customer_id = Id(required=True)
    name = required_text(200)
    email = fields.Email(allow_none=True, load_default=None, validate=validate.Length(max=254))
    phone = text(50, allow_none=True, load_default=None)


class Contact(ContactIn):
    id = fields.Integer()
    external_id = external_id()
    active = fields.Boolean()


class ContactCreate(ContactIn):
    external_id = external_id(load_default=None)


class EquipmentIn(ma.Schema):
    site_id = Id(required=True)
    tag = required_text(60)
    serial = text(100, allow_none=True, load_default=None)
    model = text(200, allow_none=True, load_default=None)
    calibration_due_on = fields.Date(allow_none=True, load_default=None)


class Equipment(EquipmentIn):
    id = fields.Integer()
    external_id = external_id()
    active = fields.Boolean()


class EquipmentCreate(EquipmentIn):
    external_id = external_id(load_default=None)


def page_of(item: type[ma.Schema], name: str) -> type[ma.Schema]:
    return ma.Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item)),
            "next_after_id": fields.Integer(
                allow_none=True, metadata={"description": "null: this is the last page"}
            ),
        },
        name=name,
    )


class ReferenceListArgs(PageArgs):
    q = fields.String(
        load_default="",
        validate=validate.Length(max=200),
        metadata={"description": "Text to search for, as the page's search box"},
    )
    show = fields.String(
        load_default="active", validate=validate.OneOf(["active", "inactive", "all"])
    )
