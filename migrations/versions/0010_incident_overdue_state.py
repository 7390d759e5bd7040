"""The incident's next follow-up due time, so overdue incidents are an index range; a person's open promises by due time

Revision ID: 0010_incident_overdue_state
Revises: 0009_customer_answers
Create Date: 2026-11-30 05:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

import fieldsvc.database


# revision identifiers, used by Alembic.
revision = '0010_incident_overdue_state'
down_revision = '0009_customer_answers'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_follow_up_due_at', fieldsvc.database.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_incidents_next_follow_up_due_at'), ['next_follow_up_due_at'], unique=False)

    with op.batch_alter_table('follow_ups', schema=None) as batch_op:
        batch_op.create_index('ix_follow_ups_owner_open_due', ['owner_id', 'closed_at', 'due_at'], unique=False)

    # Incidents from before: the earliest due time of their open follow-ups.
    op.execute(
        "UPDATE incidents SET next_follow_up_due_at = ("
        "SELECT min(f.due_at) FROM follow_ups f "
        "WHERE f.incident_id = incidents.id AND f.closed_at IS NULL)"
    )


def downgrade():
    with op.batch_alter_table('follow_ups', schema=None) as batch_op:
        batch_op.drop_index('ix_follow_ups_owner_open_due')

    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incidents_next_follow_up_due_at'))
        batch_op.drop_column('next_follow_up_due_at')
