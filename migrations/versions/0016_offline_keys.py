"""Work log entries, communications, follow-ups (promised and closed) and added photos carry the idempotency key a tablet's outbox sends, so a replayed action is recorded once

Revision ID: 0016_offline_keys
Revises: 0015_report_months
Create Date: 2026-11-30 11:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016_offline_keys'
down_revision = '0015_report_months'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('submission_key', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_attachments_uploaded_by_id_submission_key'), ['uploaded_by_id', 'submission_key'])

    with op.batch_alter_table('work_log_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('submission_key', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_work_log_entries_user_id_submission_key'), ['user_id', 'submission_key'])

    with op.batch_alter_table('communications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('submission_key', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_communications_user_id_submission_key'), ['user_id', 'submission_key'])

    with op.batch_alter_table('follow_ups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('submission_key', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('closed_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('close_key', sa.String(length=64), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_follow_ups_closed_by_id_users'), 'users', ['closed_by_id'], ['id'])
        batch_op.create_unique_constraint(batch_op.f('uq_follow_ups_created_by_id_submission_key'), ['created_by_id', 'submission_key'])
        batch_op.create_unique_constraint(batch_op.f('uq_follow_ups_closed_by_id_close_key'), ['closed_by_id', 'close_key'])


def downgrade():
    with op.batch_alter_table('follow_ups', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_follow_ups_closed_by_id_close_key'), type_='unique')
        batch_op.drop_constraint(batch_op.f('uq_follow_ups_created_by_id_submission_key'), type_='unique')
        batch_op.drop_constraint(batch_op.f('fk_follow_ups_closed_by_id_users'), type_='foreignkey')
        batch_op.drop_column('close_key')
        batch_op.drop_column('closed_by_id')
        batch_op.drop_column('submission_key')

    with op.batch_alter_table('communications', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_communications_user_id_submission_key'), type_='unique')
        batch_op.drop_column('submission_key')

    with op.batch_alter_table('work_log_entries', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_work_log_entries_user_id_submission_key'), type_='unique')
        batch_op.drop_column('submission_key')

    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_attachments_uploaded_by_id_submission_key'), type_='unique')
        batch_op.drop_column('submission_key')
