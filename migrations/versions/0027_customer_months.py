"""The month rows added up per customer and month, whatever the technician and cause, so the cost report's grouping by customer reads a row per customer and month

Revision ID: 0027_customer_months
Revises: 0026_team_month_steps
Create Date: 2026-12-01 11:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

import fieldsvc.database


# revision identifiers, used by Alembic.
revision = '0027_customer_months'
down_revision = '0026_team_month_steps'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('customer_months',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('previous_accepted_at', fieldsvc.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revisions', sa.Integer(), nullable=False),
    sa.Column('we_absorb', sa.Numeric(precision=16, scale=2), nullable=False),
    sa.Column('customer_pays', sa.Numeric(precision=16, scale=2), nullable=False),
    sa.Column('customer_tax', sa.Numeric(precision=16, scale=2), nullable=False),
    sa.CheckConstraint('revisions > 0', name=op.f('ck_customer_months_revisions_counted')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_months_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_months'))
    )
    with op.batch_alter_table('customer_months', schema=None) as batch_op:
        batch_op.create_index('ix_customer_months_period', ['customer_id', 'month', 'previous_accepted_at', 'revisions', 'we_absorb', 'customer_pays', 'customer_tax'], unique=False)

    # Added up from the customers' month rows, in the zone they are added up in.
    op.execute(
        'INSERT INTO customer_months (customer_id, month, previous_accepted_at, '
        'revisions, we_absorb, customer_pays, customer_tax) '
        'SELECT customer_id, month, previous_accepted_at, sum(revisions), sum(we_absorb), '
        'sum(customer_pays), sum(customer_tax) '
        'FROM report_months '
        'GROUP BY customer_id, month, previous_accepted_at'
    )
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ANALYZE customer_months')


def downgrade():
    with op.batch_alter_table('customer_months', schema=None) as batch_op:
        batch_op.drop_index('ix_customer_months_period')

    op.drop_table('customer_months')
