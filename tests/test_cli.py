from sqlalchemy import func, select

from fieldsvc.auth.models import Role, User
from fieldsvc.customers.models import Customer, Equipment
from fieldsvc.extensions import db
from fieldsvc.parts.models import Part


def test_users_create_prompts_for_the_password(runner):
    result = runner.invoke(
        args=["users", "create", "--email", "Lee@Example.com", "--role", "supervisor"],
        input="a long passphrase\na long passphrase\n",
    )
    assert result.exit_code == 0, result.output
    assert "created supervisor lee@example.com" in result.output
    user = db.session.scalars(select(User)).one()
    assert user.role is Role.SUPERVISOR


def test_users_create_refuses_a_weak_password_or_unknown_role(runner):
    result = runner.invoke(
        args=["users", "create", "--email", "lee@example.com", "--role", "technician"],
        input="short\nshort\n",
    )
    assert result.exit_code == 2
    assert "password: Use at least 10 characters." in result.output
    result = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "lee@example.com",
            "--role",
            "boss",
            "--password",
            "a long passphrase",
        ],
    )
    assert result.exit_code == 2
    assert "'boss' is not one of" in result.output
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_demo_loads_the_broken_transmitters_story_and_refuses_a_second_time(runner):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    customer = db.session.scalars(select(Customer)).one()
    assert customer.name == "Northwind Pharma"
    assert customer.contacts[0].email == "dana.whitfield@northwind.example"
    assert customer.sites[0].name == "Building 4 — Sterile Fill"
    tags = db.session.scalars(select(Equipment.tag).order_by(Equipment.tag)).all()
    assert tags == [f"PT-{n}" for n in range(101, 131)]
    assert db.session.scalars(select(Part)).one().list_price == 350
    emails = set(db.session.scalars(select(User.email)))
    assert emails == {"tech@example.com", "supervisor@example.com", "admin@example.com"}

    again = runner.invoke(args=["demo"])
    assert again.exit_code == 1
    assert "already holds data" in again.output
    assert runner.invoke(args=["demo", "--if-empty"]).exit_code == 0
    assert db.session.scalar(select(func.count()).select_from(Customer)) == 1


def test_demo_accounts_sign_in_with_the_documented_password(runner, client):
    runner.invoke(args=["demo"])
    client.sign_in("supervisor@example.com", "demo")
    assert "Sara Supervisor" in client.get("/").get_data(as_text=True)
