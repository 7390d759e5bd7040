from decimal import Decimal

from sqlalchemy import func, select

from fieldsvc.auth.models import Role
from fieldsvc.extensions import db
from fieldsvc.parts.models import Part, Supplier


def test_admin_adds_a_part_and_everyone_sees_its_list_price(app, client, signed_in):
    signed_in(Role.ADMIN)
    response = client.post(
        "/parts/new",
        data={
            "number": "PTX-400",
            "description": "PTX-400 pressure transmitter",
            "list_price": "350.00",
        },
    )
    assert response.status_code == 302
    part = db.session.scalars(select(Part)).one()
    assert part.list_price == Decimal("350.00")
    assert "USD 350.00" in client.get("/parts/").get_data(as_text=True)


def test_a_duplicate_part_number_is_refused(client, signed_in, make_part):
    signed_in(Role.ADMIN)
    make_part(number="PTX-400")
    db.session.commit()
    response = client.post(
        "/parts/new", data={"number": "ptx-400", "description": "Again", "list_price": "1"}
    )
    assert response.status_code == 422
    assert "Part number ptx-400 is already in the catalogue." in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Part)) == 1


def test_prices_must_be_non_negative_whole_cents(client, signed_in):
    signed_in(Role.ADMIN)
    for price, message in [
        ("-5", "The list price cannot be negative."),
        ("1.005", "Use at most 2 decimals for money."),
        ("", "Enter the list price."),
    ]:
        response = client.post(
            "/parts/new", data={"number": "P-1", "description": "X", "list_price": price}
        )
        assert response.status_code == 422, price
        assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Part)) == 0


def test_admin_adds_a_supplier(client, signed_in):
    signed_in(Role.ADMIN)
    response = client.post(
        "/suppliers/new",
        data={"name": "Precision Instruments Supply", "email": "orders@precision.example"},
    )
    assert response.status_code == 302
    assert db.session.scalars(select(Supplier)).one().email == "orders@precision.example"
