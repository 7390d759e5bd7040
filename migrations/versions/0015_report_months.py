"""Cost entries added up by customer and calendar month, so a report over years reads a row per month; the time zone they are added up in

Revision ID: 0015_report_months
Revises: 0014_photo_visibility
Create Date: 2026-11-30 11:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import fieldsvc.database


# revision identifiers, used by Alembic.
revision = '0015_report_months'
down_revision = '0014_photo_visibility'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('report_months',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('technician_id', sa.Integer(), nullable=True),
    sa.Column('cause_category', sa.Enum('pre_existing', 'customer', 'our_technician', 'third_party', 'unknown', name='causecategory', native_enum=False, length=30), nullable=False),
    sa.Column('previous_accepted_at', fieldsvc.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revisions', sa.Integer(), nullable=False),
    sa.Column('we_absorb', sa.Numeric(precision=16, scale=2), nullable=False),
    sa.Column('customer_pays', sa.Numeric(precision=16, scale=2), nullable=False),
    sa.Column('customer_tax', sa.Numeric(precision=16, scale=2), nullable=False),
    sa.CheckConstraint('revisions > 0', name=op.f('ck_report_months_revisions_counted')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_report_months_customer_id_customers')),
    sa.ForeignKeyConstraint(['technician_id'], ['users.id'], name=op.f('fk_report_months_technician_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_months'))
    )
    with op.batch_alter_table('report_months', schema=None) as batch_op:
        batch_op.create_index('ix_report_months_period', ['customer_id', 'month', 'cause_category', 'technician_id', 'previous_accepted_at', 'revisions', 'we_absorb', 'customer_pays', 'customer_tax'], unique=False)

    op.create_table('report_months_zone',
    sa.Column('zone', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('zone', name=op.f('pk_report_months_zone'))
    )

    # Added up from the cost entries, in the company's zone, by the code that keeps them.
    from fieldsvc import clock
    from fieldsvc.reports import months

    months.rebuild(op.get_bind(), clock.company_zone(), teams=False)


def downgrade():
    op.drop_table('report_months_zone')
    with op.batch_alter_table('report_months', schema=None) as batch_op:
        batch_op.drop_index('ix_report_months_period')

    op.drop_table('report_months')
