"""Customers, sites, contacts and equipment: create, edit, search, page, deactivate."""

import re
from datetime import date

from sqlalchemy import func, select

from fieldsvc.audit.models import AuditEvent
from fieldsvc.auth.models import Role
from fieldsvc.customers.models import Customer, Equipment
from fieldsvc.extensions import db


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_admin_builds_a_customer_with_site_contact_and_equipment(client, signed_in):
    signed_in(Role.ADMIN)
    response = client.post("/customers/new", data={"name": "Northwind Pharma"})
    assert response.status_code == 302
    customer = db.session.scalars(select(Customer)).one()
    client.post(
        "/sites/new",
        data={"customer_id": customer.id, "name": "Building 4", "address": "1200 Harbor Road"},
    )
    client.post(
        "/contacts/new",
        data={
            "customer_id": customer.id,
            "name": "Dana Whitfield",
            "email": "dana.whitfield@northwind.example",
            "phone": "+1 973 555 0142",
        },
    )
    site = customer.sites[0]
    response = client.post(
        "/equipment/new",
        data={
            "site_id": site.id,
            "tag": "PT-101",
            "serial": "S1",
            "model": "PTX-400",
            "calibration_due_on": "2027-03-01",
        },
    )
    assert response.status_code == 302
    equipment = db.session.scalars(select(Equipment)).one()
    assert equipment.calibration_due_on == date(2027, 3, 1)

    page = client.get(f"/customers/{customer.id}").get_data(as_text=True)
    assert "Building 4" in page and "Dana Whitfield" in page
    site_page = client.get(f"/sites/{site.id}").get_data(as_text=True)
    assert "PT-101" in site_page


def test_add_site_from_a_customer_page_preselects_the_customer(client, signed_in, make_customer):
    signed_in(Role.ADMIN)
    make_customer(name="Aardvark Ltd")
    customer = make_customer(name="Zebra Corp")
    db.session.commit()
    page = client.get(f"/sites/new?customer_id={customer.id}").get_data(as_text=True)
    assert f'<option selected value="{customer.id}">Zebra Corp</option>' in page


def test_an_equipment_tag_already_used_at_the_site_is_refused(client, signed_in, make_equipment):
    signed_in(Role.ADMIN)
    existing = make_equipment(tag="PT-101")
    db.session.commit()
    events_before = _count(AuditEvent)
    response = client.post(
        "/equipment/new", data={"site_id": existing.site_id, "tag": "pt-101", "model": "X"}
    )
    assert response.status_code == 422
    assert "Tag pt-101 is already used at this site." in response.get_data(as_text=True)
    assert _count(Equipment) == 1
    assert _count(AuditEvent) == events_before


def test_the_same_tag_at_another_site_is_fine(client, signed_in, make_equipment, make_site):
    signed_in(Role.ADMIN)
    make_equipment(tag="PT-101")
    other_site = make_site()
    db.session.commit()
    response = client.post("/equipment/new", data={"site_id": other_site.id, "tag": "PT-101"})
    assert response.status_code == 302


def test_a_contact_email_must_look_like_one(client, signed_in, make_customer):
    signed_in(Role.ADMIN)
    customer = make_customer()
    db.session.commit()
    response = client.post(
        "/contacts/new", data={"customer_id": customer.id, "name": "X", "email": "dana@"}
    )
    assert response.status_code == 422
    assert "Enter an e-mail address like name@company.com." in response.get_data(as_text=True)


def test_a_site_for_an_unknown_customer_is_refused(client, signed_in):
    signed_in(Role.ADMIN)
    response = client.post("/sites/new", data={"customer_id": 999, "name": "X", "address": "Y"})
    assert response.status_code == 422
    assert "Not a valid choice." in response.get_data(as_text=True)


def test_editing_records_the_change_with_before_and_after(client, signed_in, make_customer):
    admin = signed_in(Role.ADMIN)
    customer = make_customer(name="Northwind")
    db.session.commit()
    client.post(f"/customers/{customer.id}/edit", data={"name": "Northwind Pharma"})
    event = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "update", AuditEvent.object_type == "Customer"
        )
    ).one()
    assert event.changes == {"name": ["Northwind", "Northwind Pharma"]}
    assert event.actor_id == admin.id
    page = client.get(f"/customers/{customer.id}").get_data(as_text=True)
    assert "History" in page and "Northwind Pharma" in page and admin.name in page


def test_search_finds_equipment_by_tag_serial_or_model(client, signed_in, make_equipment):
    signed_in(Role.TECHNICIAN)
    make_equipment(tag="PT-101", serial="SER-A")
    make_equipment(tag="FT-200", serial="SER-B", model="Flowmeter 9")
    db.session.commit()
    page = client.get("/equipment/?q=flowmeter").get_data(as_text=True)
    assert "FT-200" in page and "PT-101" not in page
    page = client.get("/equipment/?q=ser-a").get_data(as_text=True)
    assert "PT-101" in page and "FT-200" not in page
    page = client.get("/equipment/?q=100%25").get_data(as_text=True)  # % is literal
    assert "No equipment match" in page


def test_lists_page_through_records(client, signed_in, make_site, make_equipment):
    signed_in(Role.TECHNICIAN)
    site = make_site()
    for n in range(30):
        make_equipment(site=site, tag=f"PT-{101 + n}")
    db.session.commit()
    first = client.get("/equipment/").get_data(as_text=True)
    assert "PT-101" in first and "PT-125" in first and "PT-126" not in first
    assert "30 in all · page 1 of 2" in first
    second = client.get("/equipment/?page=2").get_data(as_text=True)
    assert "PT-126" in second and "PT-130" in second and "PT-101" not in second


def test_deactivated_records_leave_the_default_list_but_stay_findable(
    client, signed_in, make_customer
):
    signed_in(Role.ADMIN)
    customer = make_customer(name="Gone Ltd")
    db.session.commit()
    client.post(f"/customers/{customer.id}/active", data={"active": "0", "reason": "merged"})
    assert "Gone Ltd" not in client.get("/customers/").get_data(as_text=True)
    assert "Gone Ltd" in client.get("/customers/?show=inactive").get_data(as_text=True)
    client.post(f"/customers/{customer.id}/active", data={"active": "1"})
    assert "Gone Ltd" in client.get("/customers/").get_data(as_text=True)


def test_an_unknown_list_filter_is_a_clear_400(client, signed_in):
    signed_in(Role.TECHNICIAN)
    response = client.get("/customers/?show=deleted")
    assert response.status_code == 400
    assert "Show must be active, inactive or all." in response.get_data(as_text=True)


def test_the_equipment_list_runs_the_same_queries_for_5_or_25_rows(
    client, signed_in, make_site, make_equipment, count_queries
):
    signed_in(Role.TECHNICIAN)
    site = make_site()
    for n in range(5):
        make_equipment(site=site, tag=f"A-{n}")
    db.session.commit()
    with count_queries() as few:
        client.get("/equipment/")
    other_site = make_site()
    for n in range(20):
        make_equipment(site=other_site, tag=f"B-{n}")
    db.session.commit()
    with count_queries() as many:
        page = client.get("/equipment/").get_data(as_text=True)
    assert "25 in all" in page
    assert len(many) == len(few)


def test_customer_names_are_escaped(client, signed_in, make_customer):
    signed_in(Role.TECHNICIAN)
    make_customer(name="<script>alert(1)</script>")
    db.session.commit()
    page = client.get("/customers/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_history_names_the_site_instead_of_its_id(client, signed_in, make_site):
    signed_in(Role.ADMIN)
    site = make_site(name="Building 4 — Sterile Fill")
    db.session.commit()
    client.post("/equipment/new", data={"site_id": site.id, "tag": "PT-101"})
    equipment = db.session.scalars(select(Equipment)).one()
    page = client.get(f"/equipment/{equipment.id}").get_data(as_text=True)
    # The history as a person reads it: the text, not the markup.
    history = " ".join(re.sub(r"<[^>]+>", " ", page[page.index("History") :]).split())
    assert f"Site {site.customer.name} — Building 4 — Sterile Fill" in history
    assert "Active Yes" in history


def test_a_customer_page_lists_its_sites_without_repeating_the_customer(
    client, signed_in, make_site
):
    signed_in(Role.TECHNICIAN)
    site = make_site(name="Building 4")
    db.session.commit()
    page = client.get(f"/customers/{site.customer_id}").get_data(as_text=True)
    sites_table = page[page.index("Sites") : page.index("Contacts")]
    assert "Building 4" in sites_table
    assert ">Customer<" not in sites_table
