"""The demo data of the story the product is built around: Northwind Pharma, its 30
pressure transmitters, and one
account per role. Loaded by `flask --app fieldsvc demo` and by `make run` on an empty
database; never anywhere else.
"""

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import click
from flask import Blueprint, current_app
from sqlalchemy import func, select

from fieldsvc import clock
from fieldsvc.audit.services import acting
from fieldsvc.auth.models import Role, Team, User
from fieldsvc.auth.services import create_user
from fieldsvc.customers.models import Contact, Customer, Equipment, Site
from fieldsvc.database import utcnow
from fieldsvc.extensions import db
from fieldsvc.incidents.models import CauseCategory, Incident, ReportedVia, Severity
from fieldsvc.incidents.services import (
    IncidentReport,
    log_work,
    promise_follow_up,
    report_incident,
)
from fieldsvc.parts.models import Part, PartOrder, PartOrderLine, PartOrderStatus, Supplier
from fieldsvc.parts.services import (
    OrderDetails,
    OrderLineInput,
    change_part_order_status,
    order_parts,
)
from fieldsvc.proposals.models import ApprovalMeasure, ApprovalRule, LineKind
from fieldsvc.proposals.services import (
    LineDraft,
    RevisionDraft,
    approve_revision,
    draft_proposal,
    submit_revision,
)
from fieldsvc.webhooks.models import EventType, WebhookEndpoint
from fieldsvc.webhooks.services import new_secret

bp = Blueprint("demo", __name__, cli_group=None)

DEMO_PASSWORD = "demo"
DEMO_ACCOUNTS = [
    ("Tom Technician", "tech@example.com", Role.TECHNICIAN, Decimal("0")),
    ("Sara Supervisor", "supervisor@example.com", Role.SUPERVISOR, Decimal("5000.00")),
    ("Alex Admin", "admin@example.com", Role.ADMIN, Decimal("50000.00")),
]


class DataExists(Exception):
    pass


def load_demo_data(today: date | None = None) -> None:
    """Create the demo accounts and reference data; refuse when any data exists."""
    if db.session.scalar(select(func.count()).select_from(User)) or db.session.scalar(
        select(func.count()).select_from(Customer)
    ):
        raise DataExists(
            "the database already holds data; the demo is loaded only into an empty one"
        )
    today = today or date.today()
    with acting(None, reason="demo data"):
        team = Team(name="North-East field team")
        db.session.add(team)
        users = {}
        for name, email, role, limit in DEMO_ACCOUNTS:
            # The demo password is deliberately weak and only ever set here.
            users[role] = create_user(
                name=name,
                email=email,
                role=role,
                password=DEMO_PASSWORD,
                approval_limit=limit,
                actor=None,
                check_password=False,
            )
            users[role].team = team
        customer = Customer(
            name="Northwind Pharma", notes="Pharmaceutical manufacturer; GMP site.", team=team
        )
        site = Site(
            customer=customer,
            name="Building 4 — Sterile Fill",
            address="1200 Harbor Road, Building 4\nNewark, NJ 07114\nUSA",
            time_zone="America/New_York",
        )
        db.session.add_all(
            [
                customer,
                site,
                Contact(
                    customer=customer,
                    name="Dana Whitfield",
                    email="dana.whitfield@northwind.example",
                    phone="+1 973 555 0142",
                ),
                Supplier(
                    name="Precision Instruments Supply",
                    email="orders@precision-instruments.example",
                    phone="+1 800 555 0199",
                ),
                Part(
                    number="PTX-400",
                    description="PTX-400 pressure transmitter",
                    list_price=Decimal("350.00"),
                ),
            ]
        )
        for n in range(101, 131):
            db.session.add(
                Equipment(
                    site=site,
                    tag=f"PT-{n}",
                    serial=f"PTX4-{2024_0000 + n}",
                    model="PTX-400",
                    calibration_due_on=today + timedelta(days=(n - 101) * 7),
                )
            )
        db.session.flush()
    incident = _report_broken_transmitters(users[Role.TECHNICIAN], customer, site)
    _remedy(incident, users[Role.TECHNICIAN], users[Role.SUPERVISOR], today)
    _example_webhook(users[Role.ADMIN])


def _report_broken_transmitters(technician: User, customer: Customer, site: Site) -> Incident:
    """Two transmitters broken by our technician during calibration."""
    now = utcnow().replace(second=0, microsecond=0)
    equipment = {item.tag: item.id for item in site.equipment}
    contact = customer.contacts[0]
    incident = report_incident(
        IncidentReport(
            customer_id=customer.id,
            site_id=site.id,
            equipment_ids=[equipment["PT-107"], equipment["PT-117"]],
            reported_via=ReportedVia.ON_SITE,
            severity=Severity.HIGH,
            expected="All 30 pressure transmitters calibrated and back in service today.",
            actual=(
                "PT-107 and PT-117 were damaged during calibration: the diaphragms were "
                "over-pressured on our test rig. Both read zero and must be replaced."
            ),
            occurred_at=now - timedelta(hours=2),
            reporter_contact_id=contact.id,
            cause_category=CauseCategory.OUR_TECHNICIAN,
            cause_description="Test rig regulator set to 40 bar instead of 4 bar.",
            technician_statement=(
                "I set the regulator from the previous job's sheet and did not re-check it "
                "before connecting PT-107 and PT-117. My mistake."
            ),
            claim_reference="CLM-2026-0413",
        ),
        actor=technician,
        now=now,
    )
    with acting(technician):
        log_work(
            incident,
            actor=technician,
            started_at=now - timedelta(hours=3),
            minutes=150,
            note="Calibrated PT-101 to PT-130; isolated the two damaged units.",
            now=now,
        )
        promise_follow_up(
            incident,
            actor=technician,
            owner_id=technician.id,
            due_at=_later_today(now, clock.user_zone(technician)),
            promise="Call Dana back with the replacements' delivery date",
            now=now,
        )
    return incident


def _later_today(now: datetime, zone) -> datetime:
    """A few hours from `now` but still today where the person is, so the demo's promise is
    on their My day whatever the hour the demo is loaded (a minute from now just before
    midnight)."""
    day_ends = clock.end_of_local_day(now, zone)
    return max(
        min(now + timedelta(hours=3), day_ends - timedelta(minutes=5)), now + timedelta(minutes=1)
    )


# The approval rules a company starts from (data: admins edit them at /approval-rules).
EXAMPLE_APPROVAL_RULES = (
    ("Damage caused by our technician", ApprovalMeasure.CAUSED_BY_US, 0, Role.SUPERVISOR),
    ("Total value above 10,000.00", ApprovalMeasure.TOTAL_VALUE, 10000, Role.ADMIN),
    ("Parts at risk above 5,000.00", ApprovalMeasure.AT_RISK, 5000, Role.ADMIN),
)


def _example_webhook(admin: User) -> None:
    """An ERP's webhook endpoint, switched off: its address is an example that leads
    nowhere, so the demo sends nothing."""
    with acting(admin, reason="demo data"):
        db.session.add(
            WebhookEndpoint(
                url="https://erp.northwind.example/fieldsvc/events",
                description="Northwind ERP (example, switched off)",
                event_types=[event.value for event in EventType],
                enabled=False,
                secret=new_secret(),
                created_by_id=admin.id,
            )
        )
        db.session.flush()


def add_example_approval_rules(reason: str) -> None:
    with acting(None, reason=reason):
        for description, measure, threshold, role in EXAMPLE_APPROVAL_RULES:
            db.session.add(
                ApprovalRule(
                    description=description,
                    measure=measure,
                    threshold=Decimal(threshold),
                    required_role=role,
                )
            )
        db.session.flush()


def order_replacement_transmitters(
    incident: Incident, *, supplier: Supplier, part: Part, actor: User, today: date
) -> PartOrder:
    """PO-7781, three transmitters at list less 10 %, placed today, due tomorrow."""
    order = order_parts(
        incident,
        OrderDetails(
            supplier_id=supplier.id,
            po_number="PO-7781",
            ordered_on=today,
            expected_on=today + timedelta(days=1),
            return_window_days=30,
            restocking_fee_pct=Decimal("15"),
        ),
        [
            OrderLineInput(
                part_id=part.id,
                description=part.description,
                quantity=Decimal("3"),
                unit_cost=part.list_price,
                discount_pct=Decimal("10"),
            )
        ],
        actor=actor,
    )
    change_part_order_status(order, PartOrderStatus.ORDERED, actor=actor, today=today)
    return order


def replacement_offer_lines(part: Part, ordered: PartOrderLine) -> list[LineDraft]:
    """Two replacements half paid, a free spare, and the labour waived."""
    return [
        LineDraft(
            LineKind.PART,
            "PTX-400 pressure transmitter, replacing PT-107 and PT-117",
            Decimal("2"),
            part.list_price,
            customer_share_pct=Decimal("50"),
            part_order_line_id=ordered.id,
        ),
        LineDraft(
            LineKind.GOODWILL,
            "PTX-400 pressure transmitter, spare, free of charge",
            Decimal("1"),
            part.list_price,
            customer_share_pct=Decimal("0"),
            part_order_line_id=ordered.id,
        ),
        LineDraft(
            LineKind.LABOUR,
            "Calibration and installation (hours), waived",
            Decimal("4"),
            Decimal("120.00"),
            customer_share_pct=Decimal("0"),
        ),
    ]


def _remedy(incident: Incident, technician: User, supervisor: User, today: date) -> None:
    """Continued: three transmitters ordered, the offer drafted and approved."""
    add_example_approval_rules(reason="demo data")
    part = db.session.scalar(select(Part))
    order = order_replacement_transmitters(
        incident,
        supplier=db.session.scalar(select(Supplier)),
        part=part,
        actor=technician,
        today=today,
    )
    tomorrow = today + timedelta(days=1)
    # 08:00 at the customer's site, as their PDF, e-mail and status page say.
    visit = datetime.combine(tomorrow, time(8, 0), tzinfo=clock.site_zone(incident.site))
    when = f"{tomorrow.day} {tomorrow:%B}"
    proposal = draft_proposal(
        incident,
        RevisionDraft(
            what_happened=(
                "We are sorry: our technician damaged two of your pressure transmitters, "
                "PT-107 and PT-117, while calibrating them today."
            ),
            already_done=(
                "We have already ordered three new PTX-400 transmitters from Precision "
                "Instruments Supply; they arrive tomorrow."
            ),
            plan=(
                f"Our technician will return on {when} at 08:00 to install and calibrate the "
                "two replacements. The third transmitter is yours to keep as a spare, free of "
                "charge, and we waive the labour."
            ),
            contact_id=incident.reporter_contact_id,
            return_visit_at=visit,
            return_technician_id=technician.id,
            valid_until=today + timedelta(days=14),
            lines=replacement_offer_lines(part, order.lines[0]),
        ),
        actor=technician,
    )
    revision = proposal.current
    submit_revision(revision, actor=technician, expected_version=revision.version)
    approve_revision(
        revision, approver=supervisor, password=DEMO_PASSWORD, expected_version=revision.version
    )


@bp.cli.command("demo")
@click.option("--if-empty", is_flag=True, help="Do nothing (and succeed) when data exists.")
@click.option(
    "--force",
    is_flag=True,
    help="Load it even with FIELDSVC_ENV=production (a trial you will throw away).",
)
def demo_command(if_empty: bool, force: bool) -> None:
    """Load the demo data (Northwind Pharma and one account per role)."""
    if current_app.config["ENV_NAME"] == "production" and not force:
        raise click.ClickException(
            "refused: this is a production installation (FIELDSVC_ENV=production), and the "
            f"demo creates an administrator, admin@example.com, whose password is "
            f"'{DEMO_PASSWORD}': anyone could sign in with it. Create real accounts with "
            "`flask --app fieldsvc users create`; for a trial you will throw away, add --force."
        )
    try:
        load_demo_data()
    except DataExists as error:
        if if_empty:
            click.echo("database already holds data; demo data not loaded")
            return
        raise click.ClickException(str(error)) from error
    db.session.commit()
    click.echo(
        "demo data loaded; sign in as tech@, supervisor@ or admin@example.com, password 'demo'"
    )
