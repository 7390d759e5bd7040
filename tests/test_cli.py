from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from fieldsvc import demo
from fieldsvc.auth.models import Role, Team, User
from fieldsvc.customers.models import Customer, Equipment
from fieldsvc.extensions import db
from fieldsvc.incidents import views as incident_views
from fieldsvc.parts.models import Part

ADMIN = [
    "users",
    "create",
    "--email",
    "Ada@Example.com",
    "--role",
    "admin",
    "--name",
    "Ada Admin",
    "--approval-limit",
    "50000",
    "--team",
    "North-East field team",
    "--password-stdin",
]
TOM = ["users", "create", "--email", "tom@example.com", "--role", "technician", "--name", "Tom"]


def test_a_first_admin_is_complete_from_one_command_with_the_password_on_stdin(runner, client):
    result = runner.invoke(args=ADMIN, input="a long passphrase\n")

    assert result.exit_code == 0, result.output
    assert "created admin Ada Admin <ada@example.com>" in result.output
    assert "approval limit 50,000.00 USD" in result.output
    assert "created team North-East field team" in result.output
    admin = db.session.scalars(select(User)).one()
    assert (admin.name, admin.role, admin.approval_limit) == ("Ada Admin", Role.ADMIN, 50000)
    assert admin.team.name == "North-East field team"
    client.sign_in("ada@example.com", "a long passphrase")
    assert "Ada Admin" in client.get("/").get_data(as_text=True)


def test_a_second_account_joins_the_team_of_that_name_instead_of_a_copy(runner):
    runner.invoke(args=ADMIN, input="a long passphrase\n")
    result = runner.invoke(
        args=[*TOM, "--team", "north-east  FIELD team", "--password-stdin"],
        input="another long passphrase\n",
    )
    assert result.exit_code == 0, result.output
    assert "in team North-East field team" in result.output
    assert db.session.scalar(select(func.count()).select_from(Team)) == 1
    assert {user.team.name for user in db.session.scalars(select(User))} == {
        "North-East field team"
    }


def test_an_account_without_a_team_is_told_it_sees_no_customer(runner):
    result = runner.invoke(
        args=[*TOM, "--password-stdin"],
        input="another long passphrase\n",
    )
    assert result.exit_code == 0, result.output
    assert "no team: this account sees no customer" in result.stderr


def test_users_create_help_explains_teams_the_approval_limit_and_the_password_flags(runner):
    text = " ".join(runner.invoke(args=["users", "create", "--help"]).output.split())
    assert "a team sees the incidents of the customers it serves" in text
    assert "administrators see every customer" in text
    assert "The approval limit is the most a supervisor or administrator may approve" in text
    assert "--password TEXT The password itself. It lands in the shell's history" in text
    assert "--password-stdin Read the password from the first line of standard input" in text


def test_users_create_without_a_terminal_or_a_password_says_how_to_give_one(runner):
    result = runner.invoke(args=ADMIN[:-1])  # no --password-stdin, stdin not a terminal
    assert result.exit_code == 2
    assert "no password given and no terminal to ask in" in result.output
    assert "--password-stdin" in result.output
    empty = runner.invoke(args=ADMIN, input="")
    assert empty.exit_code == 2
    assert "--password-stdin read no password" in empty.output
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_users_create_needs_a_name_never_taking_the_e_mail_for_one(runner):
    args = [a for a in ADMIN if a not in ("--name", "Ada Admin")]
    result = runner.invoke(args=args, input="a long passphrase\n")
    assert result.exit_code == 2
    assert "Missing option '--name'" in result.output
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_users_create_refuses_a_weak_password_or_unknown_role(runner):
    result = runner.invoke(
        args=[*TOM, "--password-stdin"],
        input="short\n",
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
            "--name",
            "Lee",
            "--password",
            "a long passphrase",
        ],
    )
    assert result.exit_code == 2
    assert "'boss' is not one of" in result.output
    assert db.session.scalar(select(func.count()).select_from(User)) == 0
    assert db.session.scalar(select(func.count()).select_from(Team)) == 0


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


@pytest.mark.parametrize("hour", [9, 21, 23])
def test_the_demo_technicians_promise_is_due_today_on_their_my_day_whatever_the_hour(
    runner, client, monkeypatch, hour
):
    loaded = datetime(2026, 11, 30, hour, 58, tzinfo=UTC)  # the company's zone is UTC here
    monkeypatch.setattr(demo, "utcnow", lambda: loaded)
    monkeypatch.setattr(incident_views, "utcnow", lambda: loaded + timedelta(seconds=30))
    assert runner.invoke(args=["demo"]).exit_code == 0

    client.sign_in("tech@example.com", "demo")
    page = client.get("/my-day").get_data(as_text=True)

    due_today = page[page.index('id="today-title"') : page.index('id="open-title"')]
    assert "(1)" in due_today
    assert "Call Dana back with the replacements" in due_today


def test_demo_accounts_sign_in_with_the_documented_password(runner, client):
    runner.invoke(args=["demo"])
    client.sign_in("supervisor@example.com", "demo")
    assert "Sara Supervisor" in client.get("/").get_data(as_text=True)


def test_demo_refuses_a_production_installation_unless_forced(app, runner):
    app.config["ENV_NAME"] = "production"
    refused = runner.invoke(args=["demo"])
    assert refused.exit_code == 1
    assert "refused: this is a production installation (FIELDSVC_ENV=production)" in (
        refused.output
    )
    assert "whose password is 'demo'" in refused.output
    assert runner.invoke(args=["demo", "--if-empty"]).exit_code == 1
    assert db.session.scalar(select(func.count()).select_from(User)) == 0

    forced = runner.invoke(args=["demo", "--force"])
    assert forced.exit_code == 0, forced.output
    assert db.session.scalar(select(func.count()).select_from(Customer)) == 1
