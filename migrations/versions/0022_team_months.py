"""The month rows added up by the team that serves their customer, so a team's cost report groups a row per month, technician and cause instead of one per customer

Revision ID: 0022_team_months
Revises: 0021_dashboard_indexes
Create Date: 2026-11-30 23:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

import fieldsvc.database


# revision identifiers, used by Alembic.
revision = '0022_team_months'
down_revision = '0021_dashboard_indexes'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('team_months',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('technician_id', sa.Integer(), nullable=True),
    sa.Column('cause_category', sa.Enum('pre_existing', 'customer', 'our_technician', 'third_party', 'unknown', name='causecategory', native_enum=False, length=30), nullable=False),
    sa.Column('previous_accepted_at', fieldsvc.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revisions', sa.Integer(), nullable=False),
    sa.Column('we_absorb', sa.Numeric(precision=16, scale=2), nullable=False),
    sa.Column('customer_pays', sa.Numeric(precision=16, scale=2), nullable=False),
    sa.Column('customer_tax', sa.Numeric(precision=16, scale=2), nullable=False),
    sa.CheckConstraint('revisions > 0', name=op.f('ck_team_months_revisions_counted')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_team_months_team_id_teams')),
    sa.ForeignKeyConstraint(['technician_id'], ['users.id'], name=op.f('fk_team_months_technician_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_team_months'))
    )
    with op.batch_alter_table('team_months', schema=None) as batch_op:
        batch_op.create_index('ix_team_months_period', ['team_id', 'month', 'cause_category', 'technician_id', 'previous_accepted_at', 'revisions', 'we_absorb', 'customer_pays', 'customer_tax'], unique=False)

    # Added up from the customers' month rows, in the zone they are added up in.
    op.execute(
        'INSERT INTO team_months (team_id, month, technician_id, cause_category, '
        'previous_accepted_at, revisions, we_absorb, customer_pays, customer_tax) '
        'SELECT customers.team_id, report_months.month, report_months.technician_id, '
        'report_months.cause_category, report_months.previous_accepted_at, '
        'sum(report_months.revisions), sum(report_months.we_absorb), '
        'sum(report_months.customer_pays), sum(report_months.customer_tax) '
        'FROM report_months JOIN customers ON customers.id = report_months.customer_id '
        'GROUP BY customers.team_id, report_months.month, report_months.technician_id, '
        'report_months.cause_category, report_months.previous_accepted_at'
    )
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ANALYZE team_months')


def downgrade():
    with op.batch_alter_table('team_months', schema=None) as batch_op:
        batch_op.drop_index('ix_team_months_period')

    op.drop_table('team_months')
