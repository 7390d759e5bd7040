from flask import Blueprint

from fieldsvc import records
from fieldsvc.parts import forms, services
from fieldsvc.parts.models import Part, Supplier
from fieldsvc.records import Column, RecordType

bp = Blueprint("parts", __name__)

records.register(
    bp,
    RecordType(
        key="supplier",
        url="/suppliers",
        model=Supplier,
        singular="Supplier",
        plural="Suppliers",
        form=forms.EditSupplierForm,
        columns=[Column("Name", "name"), Column("E-mail", "email"), Column("Phone", "phone")],
        search=[Supplier.name, Supplier.email],
        order_by=[Supplier.name],
    ),
)
records.register(
    bp,
    RecordType(
        key="part",
        url="/parts",
        model=Part,
        singular="Part",
        plural="Parts catalogue",
        form=forms.EditPartForm,
        columns=[
            Column("Part number", "number", code=True),
            Column("Description", "description"),
            Column("List price", "list_price", money=True),
        ],
        search=[Part.number, Part.description],
        order_by=[Part.number],
        check=services.check_part,
    ),
)
