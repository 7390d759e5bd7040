"""A time zone for each site (what its customer reads) and each user (what they read and type)

Revision ID: 0013_time_zones
Revises: 0012_report_rollups
Create Date: 2026-11-30 08:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013_time_zones'
down_revision = '0012_report_rollups'
branch_labels = None
depends_on = None


def upgrade():
    # Empty for every existing row: the company's zone (FIELDSVC_TIMEZONE), as before.
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.add_column(sa.Column('time_zone', sa.String(length=64), nullable=True))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('time_zone', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('time_zone')

    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.drop_column('time_zone')
