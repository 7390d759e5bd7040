"""Value ranges: CHECK constraints so no path can store what the pages cannot show

Every amount is 0 to 10,000,000.00, every quantity more than 0 and at most 100,000,
the return window 0 to 365 days, and every date typed by a person falls in 2000-2099
(fieldsvc/ranges.py narrows the dates further around today in forms and services).

Rows already outside these ranges stop the upgrade with a list of them (table, id,
value), so they can be corrected first; nothing is changed or dropped silently.

Revision ID: 0008_value_ranges
Revises: 0007_sessions
Create Date: 2026-11-30 05:20:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0008_value_ranges'
down_revision = '0007_sessions'
branch_labels = None
depends_on = None

MONEY = "{c} >= 0 AND {c} <= 10000000"
QUANTITY = "{c} > 0 AND {c} <= 100000"
DAYS = "{c} >= 0 AND {c} <= 365"
CALENDAR = "\"{c}\" >= '2000-01-01' AND \"{c}\" < '2100-01-01'"

# table -> [(constraint name without the ck_<table>_ prefix, column, rule)]
CONSTRAINTS = {
    "users": [("approval_limit_in_range", "approval_limit", MONEY)],
    "equipment": [("calibration_due_on_in_calendar", "calibration_due_on", CALENDAR)],
    "incidents": [("occurred_at_in_calendar", "occurred_at", CALENDAR)],
    "work_log_entries": [("started_at_in_calendar", "started_at", CALENDAR)],
    "communications": [("at_in_calendar", "at", CALENDAR)],
    "follow_ups": [("due_at_in_calendar", "due_at", CALENDAR)],
    "parts": [("list_price_in_range", "list_price", MONEY)],
    "part_orders": [
        ("return_window_days_in_range", "return_window_days", DAYS),
        ("ordered_on_in_calendar", "ordered_on", CALENDAR),
        ("expected_on_in_calendar", "expected_on", CALENDAR),
        ("received_on_in_calendar", "received_on", CALENDAR),
    ],
    "part_order_lines": [
        ("quantity_in_range", "quantity", QUANTITY),
        ("unit_cost_in_range", "unit_cost", MONEY),
    ],
    "proposal_revisions": [
        ("return_visit_at_in_calendar", "return_visit_at", CALENDAR),
        ("valid_until_in_calendar", "valid_until", CALENDAR),
    ],
    "proposal_lines": [
        ("quantity_in_range", "quantity", QUANTITY),
        ("unit_price_in_range", "unit_price", MONEY),
    ],
    "approval_rules": [("threshold_in_range", "threshold", MONEY)],
}


class RowsOutOfRange(RuntimeError):
    """Existing rows the new constraints would refuse: correct them, then upgrade again."""


def upgrade():
    _refuse_rows_out_of_range()
    for table, constraints in CONSTRAINTS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, column, rule in constraints:
                batch_op.create_check_constraint(
                    op.f(f"ck_{table}_{name}"), sa.text(rule.format(c=column))
                )


def downgrade():
    for table, constraints in CONSTRAINTS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, _column, _rule in constraints:
                batch_op.drop_constraint(op.f(f"ck_{table}_{name}"), type_="check")


def _refuse_rows_out_of_range():
    bind = op.get_bind()
    found = []
    for table, constraints in CONSTRAINTS.items():
        for _name, column, rule in constraints:
            rows = bind.execute(
                sa.text(
                    f'SELECT id, "{column}" FROM {table} '
                    f"WHERE \"{column}\" IS NOT NULL AND NOT ({rule.format(c=column)}) "
                    "ORDER BY id"
                )
            ).all()
            if rows:
                shown = ", ".join(f"id {row[0]}: {row[1]}" for row in rows[:20])
                more = f" and {len(rows) - 20} more" if len(rows) > 20 else ""
                found.append(f"{table}.{column} ({rule.format(c=column)}): {shown}{more}")
    if found:
        raise RowsOutOfRange(
            "These rows hold values outside the domain's ranges; correct them (in the app "
            "or with SQL) and run the upgrade again. Nothing was changed.\n  "
            + "\n  ".join(found)
        )
