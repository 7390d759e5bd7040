"""Each role against each reference-data page: allowed, or 403."""

import pytest

from fieldsvc.auth.models import Role
from fieldsvc.extensions import db

RECORDS = ["customer", "site", "contact", "equipment", "supplier", "part", "user"]
URLS = {
    "customer": "/customers",
    "site": "/sites",
    "contact": "/contacts",
    "equipment": "/equipment",
    "supplier": "/suppliers",
    "part": "/parts",
    "user": "/users",
}


@pytest.fixture
def one_of_each(make_equipment, make_contact, make_supplier, make_part, make_user):
    equipment = make_equipment()
    objects = {
        "customer": equipment.site.customer,
        "site": equipment.site,
        "contact": make_contact(customer=equipment.site.customer),
        "equipment": equipment,
        "supplier": make_supplier(),
        "part": make_part(),
        "user": make_user(Role.SUPERVISOR),
    }
    db.session.commit()
    return objects


def _expected_read(role: Role, record: str) -> int:
    if record == "user":
        return 200 if role is Role.ADMIN else 403
    return 200


@pytest.mark.parametrize("role", list(Role))
def test_reading_reference_data_is_open_to_staff_but_users_only_to_admins(
    client, signed_in, one_of_each, role
):
    signed_in(role)
    for record in RECORDS:
        url = URLS[record]
        expected = _expected_read(role, record)
        assert client.get(f"{url}/").status_code == expected, f"{role} list {record}"
        detail = client.get(f"{url}/{one_of_each[record].id}")
        assert detail.status_code == expected, f"{role} detail {record}"


@pytest.mark.parametrize("role", [Role.TECHNICIAN, Role.SUPERVISOR])
def test_only_admins_may_change_reference_data(client, signed_in, one_of_each, role):
    signed_in(role)
    for record in RECORDS:
        url, obj = URLS[record], one_of_each[record]
        assert client.get(f"{url}/new").status_code == 403, f"{role} new {record}"
        assert client.post(f"{url}/new", data={"name": "x"}).status_code == 403
        assert client.get(f"{url}/{obj.id}/edit").status_code == 403, f"{role} edit {record}"
        assert client.post(f"{url}/{obj.id}/edit", data={"name": "x"}).status_code == 403
        assert client.post(f"{url}/{obj.id}/active", data={"active": "0"}).status_code == 403
        db.session.refresh(obj)
        assert obj.active


def test_admins_may_open_every_management_page(client, signed_in, one_of_each):
    signed_in(Role.ADMIN)
    for record in RECORDS:
        url, obj = URLS[record], one_of_each[record]
        assert client.get(f"{url}/new").status_code == 200, record
        assert client.get(f"{url}/{obj.id}/edit").status_code == 200, record


def test_a_technician_sees_no_admin_links(client, signed_in, one_of_each):
    signed_in(Role.TECHNICIAN)
    page = client.get(f"/customers/{one_of_each['customer'].id}").get_data(as_text=True)
    assert "/edit" not in page
    assert "Deactivate" not in page
    assert 'href="/users/"' not in client.get("/").get_data(as_text=True)


def test_the_403_page_says_why(client, signed_in):
    signed_in(Role.TECHNICIAN)
    response = client.get("/users/")
    assert response.status_code == 403
    assert "Your role does not allow this page." in response.get_data(as_text=True)


@pytest.mark.parametrize("record", RECORDS)
def test_unknown_ids_are_404(client, signed_in, record):
    signed_in(Role.ADMIN)
    assert client.get(f"{URLS[record]}/999999").status_code == 404
    assert client.get(f"{URLS[record]}/999999/edit").status_code == 404
    assert client.post(f"{URLS[record]}/999999/active", data={"active": "0"}).status_code == 404
