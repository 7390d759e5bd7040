"""Customers, sites, contacts and equipment through the API: an ERP's sync by external
id, optimistic locking with ETags, and problem details on bad input."""

from sqlalchemy import func, select

from fieldsvc.audit.models import AuditEvent
from fieldsvc.auth.models import Role
from fieldsvc.customers.models import Equipment
from fieldsvc.extensions import db


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_an_erp_syncing_equipment_twice_by_external_id_makes_one_record(
    api_as, make_user, make_site
):
    site = make_site(external_id="ERP-SITE-7")
    api = api_as(make_user(Role.ADMIN))
    body = {"site_external_id": "ERP-SITE-7", "tag": "PT-101", "model": "PTX-400"}

    first = api.put("/equipment/by-external-id/ERP-EQ-1", json=body)
    second = api.put("/equipment/by-external-id/ERP-EQ-1", json={**body, "model": "PTX-500"})

    assert first.status_code == 201 and second.status_code == 200
    assert first.json["id"] == second.json["id"]
    equipment = db.session.scalars(select(Equipment)).one()
    assert (equipment.site_id, equipment.tag, equipment.model) == (site.id, "PT-101", "PTX-500")
    assert equipment.external_id == "ERP-EQ-1"


def test_a_customer_created_through_the_api_is_on_the_customers_page(api_as, make_user, client):
    admin = make_user(Role.ADMIN)
    api = api_as(admin)
    created = api.post("/customers", json={"name": "Northwind Pharma", "external_id": "C-1"})
    assert created.status_code == 201
    assert created.headers["Location"].endswith(f"/api/v1/customers/{created.json['id']}")

    client.sign_in(admin.email)
    page = client.get(f"/customers/{created.json['id']}").get_data(as_text=True)
    assert "Northwind Pharma" in page and "C-1" in page


def test_a_write_based_on_a_stale_etag_is_refused_with_412(api_as, make_user, make_customer):
    customer = make_customer(name="Northwind Pharma")
    db.session.commit()
    api = api_as(make_user(Role.ADMIN))
    etag = api.get(f"/customers/{customer.id}").headers["ETag"]
    changed = api.put(
        f"/customers/{customer.id}",
        json={"name": "Northwind Pharma Inc"},
        headers={"If-Match": etag},
    )
    assert changed.status_code == 200 and changed.headers["ETag"] != etag

    stale = api.put(
        f"/customers/{customer.id}", json={"name": "Northwind"}, headers={"If-Match": etag}
    )

    assert stale.status_code == 412
    assert stale.mimetype == "application/problem+json"
    assert api.get(f"/customers/{customer.id}").json["name"] == "Northwind Pharma Inc"


def test_bad_input_is_answered_with_problem_details_naming_each_field(api_as, make_user):
    api = api_as(make_user(Role.ADMIN))

    response = api.post("/equipment", json={"site_id": "seven", "tag": "", "colour": "red"})

    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    problem = response.json
    assert problem["status"] == 422 and problem["title"] and problem["detail"]
    assert {error["field"] for error in problem["errors"]} == {"site_id", "tag", "colour"}
    assert _count(Equipment) == 0


def test_a_rule_of_the_service_is_a_problem_on_its_field(api_as, make_user, make_equipment):
    existing = make_equipment(tag="PT-1", external_id="EQ-1")
    api = api_as(make_user(Role.ADMIN))

    taken_tag = api.post("/equipment", json={"site_id": existing.site_id, "tag": "pt-1"})
    taken_id = api.post(
        "/equipment", json={"site_id": existing.site_id, "tag": "PT-2", "external_id": "EQ-1"}
    )

    assert taken_tag.status_code == 400
    assert taken_tag.json["errors"] == [
        {"field": "tag", "message": "Tag pt-1 is already used at this site."}
    ]
    assert taken_id.status_code == 400 and taken_id.json["errors"][0]["field"] == "external_id"
    assert _count(Equipment) == 1


def test_a_technician_reads_reference_data_but_only_admins_change_it(
    api_as, make_user, make_customer
):
    customer = make_customer(name="Northwind Pharma")
    db.session.commit()
    api = api_as(make_user(Role.TECHNICIAN))

    listed = api.get("/customers")
    refused = api.put(f"/customers/{customer.id}", json={"name": "Renamed"})

    assert [item["name"] for item in listed.json["items"]] == ["Northwind Pharma"]
    assert refused.status_code == 403 and refused.mimetype == "application/problem+json"


def test_every_write_is_in_the_audit_trail_with_the_token_that_made_it(api_as, make_user):
    api = api_as(make_user(Role.ADMIN))
    created = api.post("/customers", json={"name": "Northwind Pharma"})

    event = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.object_type == "Customer", AuditEvent.object_id == created.json["id"]
        )
    ).one()
    assert event.reason.startswith("API token ")
