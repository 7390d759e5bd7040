"""E-mails are delivered by the job queue: when a failed one is tried again

The statuses `sending`, `undeliverable` and `cancelled` fit the existing VARCHAR(20)
status column (no constraint lists the values), so only the due time is new.

Revision ID: 0017_job_queue
Revises: 0016_offline_keys
Create Date: 2026-11-30 11:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import fieldsvc.database


# revision identifiers, used by Alembic.
revision = '0017_job_queue'
down_revision = '0016_offline_keys'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outgoing_emails', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('next_attempt_at', fieldsvc.database.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade():
    # Back to the statuses the old code knows: an unfinished one is failed (retried), a
    # cancelled one is marked sent so the old code never sends it.
    op.execute(
        "UPDATE outgoing_emails SET status = 'failed' "
        "WHERE status IN ('sending', 'undeliverable')"
    )
    op.execute("UPDATE outgoing_emails SET status = 'sent' WHERE status = 'cancelled'")
    with op.batch_alter_table('outgoing_emails', schema=None) as batch_op:
        batch_op.drop_column('next_attempt_at')
