"""Report figures kept where a period is cheap to read: each incident's first sending, first acceptance and response times, one cost entry per accepted revision

Revision ID: 0012_report_rollups
Revises: 0011_search_index
Create Date: 2026-11-30 08:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import fieldsvc.database


# revision identifiers, used by Alembic.
revision = '0012_report_rollups'
down_revision = '0011_search_index'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('cost_entries',
    sa.Column('revision_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('technician_id', sa.Integer(), nullable=True),
    sa.Column('cause_category', sa.Enum('pre_existing', 'customer', 'our_technician', 'third_party', 'unknown', name='causecategory', native_enum=False, length=30), nullable=False),
    sa.Column('accepted_at', fieldsvc.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('we_absorb', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('customer_pays', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('customer_tax', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_cost_entries_customer_id_customers')),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_cost_entries_incident_id_incidents')),
    sa.ForeignKeyConstraint(['revision_id'], ['proposal_revisions.id'], name=op.f('fk_cost_entries_revision_id_proposal_revisions')),
    sa.ForeignKeyConstraint(['technician_id'], ['users.id'], name=op.f('fk_cost_entries_technician_id_users')),
    sa.PrimaryKeyConstraint('revision_id', name=op.f('pk_cost_entries'))
    )
    with op.batch_alter_table('cost_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cost_entries_incident_id'), ['incident_id'], unique=False)
        batch_op.create_index('ix_cost_entries_period', ['customer_id', 'accepted_at', 'cause_category', 'technician_id', 'incident_id', 'we_absorb', 'customer_pays', 'customer_tax'], unique=False)

    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('first_sent_at', fieldsvc.database.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('first_accepted_at', fieldsvc.database.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('reported_to_sent_hours', sa.Double(), nullable=True))
        batch_op.add_column(sa.Column('sent_to_accepted_hours', sa.Double(), nullable=True))
        batch_op.add_column(sa.Column('accepted_to_resolved_hours', sa.Double(), nullable=True))
        batch_op.add_column(sa.Column('reported_to_resolved_hours', sa.Double(), nullable=True))

    # Filled from the facts, by the same code that keeps them on every change.
    from fieldsvc.reports import rollups

    rollups.recompute(op.get_bind())

    with op.batch_alter_table('incidents', schema=None) as batch_op:
        # The new index starts with its columns and answers its queries without the rows.
        batch_op.drop_index('ix_incidents_created_cause')
        batch_op.create_index('ix_incidents_period_figures', ['customer_id', 'created_at', 'cause_category', 'reported_to_sent_hours', 'sent_to_accepted_hours', 'accepted_to_resolved_hours', 'reported_to_resolved_hours'], unique=False)


def downgrade():
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index('ix_incidents_period_figures')
        batch_op.create_index('ix_incidents_created_cause', ['created_at', 'cause_category'], unique=False)
        batch_op.drop_column('reported_to_resolved_hours')
        batch_op.drop_column('accepted_to_resolved_hours')
        batch_op.drop_column('sent_to_accepted_hours')
        batch_op.drop_column('reported_to_sent_hours')
        batch_op.drop_column('first_accepted_at')
        batch_op.drop_column('first_sent_at')

    with op.batch_alter_table('cost_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_cost_entries_period')
        batch_op.drop_index(batch_op.f('ix_cost_entries_incident_id'))

    op.drop_table('cost_entries')
