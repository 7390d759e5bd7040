"""Teams: an admin creates one and assigns users and customers to it, which decides
who sees which incidents."""

from sqlalchemy import select

from fieldsvc.auth.models import Role, Team, User
from fieldsvc.customers.models import Customer
from fieldsvc.extensions import db
from tests.factories import PASSWORD


def test_admin_creates_a_team_and_assigns_a_user_and_a_customer(
    client, signed_in, make_user, make_customer, make_site, make_incident
):
    admin = signed_in(Role.ADMIN)
    technician = make_user(Role.TECHNICIAN)
    customer = make_customer(name="Northwind Pharma")
    incident = make_incident(actor=admin, site=make_site(customer=customer))
    db.session.commit()

    assert client.post("/teams/new", data={"name": "North-East"}).status_code == 302
    team = db.session.scalars(select(Team)).one()
    client.post(
        f"/users/{technician.id}/edit",
        data={
            "name": technician.name,
            "email": technician.email,
            "role": "technician",
            "approval_limit": "0",
            "team_id": team.id,
        },
    )
    client.post(f"/customers/{customer.id}/edit", data={"name": customer.name, "team_id": team.id})

    assert db.session.get(User, technician.id).team == team
    assert db.session.get(Customer, customer.id).team == team
    page = client.get(f"/customers/{customer.id}").get_data(as_text=True)
    assert "North-East" in page

    client.post("/logout")
    client.sign_in(technician.email, PASSWORD)
    # Now in the team that serves the customer, the technician sees its incident.
    assert client.get(f"/incidents/{incident.id}").status_code == 200


def test_only_admins_open_the_team_screens(client, signed_in):
    signed_in(Role.SUPERVISOR)
    assert client.get("/teams/").status_code == 403
    assert client.post("/teams/new", data={"name": "Mine"}).status_code == 403
