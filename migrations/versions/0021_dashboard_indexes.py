"""Indexes that keep the dashboard's answers of the last 90 days and overdue promises by owner short reads, whatever the history

Revision ID: 0021_dashboard_indexes
Revises: 0020_imports
Create Date: 2026-11-30 15:15:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0021_dashboard_indexes'
down_revision = '0020_imports'
branch_labels = None
depends_on = None


# Plain CREATE INDEX (no table rebuild, so SQLite keeps the incidents' search triggers).
INDEXES = (
    ('ix_proposal_revisions_id_proposal', 'proposal_revisions', ['id', 'proposal_id']),
    ('ix_incidents_customer_next_due', 'incidents', ['customer_id', 'next_follow_up_due_at', 'id']),
    ('ix_follow_ups_incident_open_due', 'follow_ups', ['incident_id', 'closed_at', 'due_at', 'owner_id']),
)


def upgrade():
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        # The planner chooses index-only reads from fresh statistics and visibility.
        for table in sorted({table for _name, table, _columns in INDEXES}):
            op.execute(f'ANALYZE {table}')


def downgrade():
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
