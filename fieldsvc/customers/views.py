from flask import Blueprint
from sqlalchemy.orm import joinedload

from fieldsvc import records
from fieldsvc.customers import forms, services
from fieldsvc.customers.models import Contact, Customer, Equipment, Site
from fieldsvc.records import Children, Column, RecordType

bp = Blueprint("customers", __name__)
# The record's id in the company's ERP or CMMS, set by the API's sync or by hand.
EXTERNAL_ID = Column("External id", "external_id", code=True, listed=False)

records.register(
    bp,
    RecordType(
        key="customer",
        url="/customers",
        model=Customer,
        singular="Customer",
        plural="Customers",
        form=forms.EditCustomerForm,
        columns=[
            Column("Name", "name"),
            Column("Served by", "team.name", link="team"),
            Column("Notes", "notes"),
            EXTERNAL_ID,
        ],
        search=[Customer.name],
        order_by=[Customer.name],
        check=services.check_customer,
        children=[
            Children("Sites", "site", "sites", "customer_id"),
            Children("Contacts", "contact", "contacts", "customer_id"),
        ],
    ),
)
records.register(
    bp,
    RecordType(
        key="site",
        url="/sites",
        model=Site,
        singular="Site",
        plural="Sites",
        form=forms.EditSiteForm,
        columns=[
            Column("Name", "name"),
            Column("Customer", "customer.name", link="customer"),
            Column("Address", "address"),
            Column("Time zone", "time_zone_label"),
            EXTERNAL_ID,
        ],
        search=[Site.name, Site.address],
        order_by=[Site.name],
        eager=[joinedload(Site.customer)],
        children=[Children("Equipment", "equipment", "equipment", "site_id")],
        check=services.check_site,
    ),
)
records.register(
    bp,
    RecordType(
        key="contact",
        url="/contacts",
        model=Contact,
        singular="Contact",
        plural="Contacts",
        form=forms.EditContactForm,
        columns=[
            Column("Name", "name"),
            Column("Customer", "customer.name", link="customer"),
            Column("E-mail", "email"),
            Column("Phone", "phone"),
            EXTERNAL_ID,
        ],
        search=[Contact.name, Contact.email, Contact.phone],
        order_by=[Contact.name],
        eager=[joinedload(Contact.customer)],
        check=services.check_contact,
    ),
)
records.register(
    bp,
    RecordType(
        key="equipment",
        url="/equipment",
        model=Equipment,
        singular="Equipment",
        plural="Equipment",
        form=forms.EditEquipmentForm,
        columns=[
            Column("Tag", "tag", code=True),
            Column("Site", "site.name", link="site"),
            Column("Customer", "site.customer.name", link="customer"),
            Column("Model", "model", code=True),
            Column("Serial", "serial", code=True),
            Column("Calibration due", "calibration_due_on", code=True),
            EXTERNAL_ID,
        ],
        search=[Equipment.tag, Equipment.serial, Equipment.model],
        order_by=[Equipment.tag],
        eager=[joinedload(Equipment.site).joinedload(Site.customer)],
        check=services.check_equipment,
    ),
)
