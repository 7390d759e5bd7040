"""Each response-time step's hours by team and calendar month, sorted, so the response times of a year read a row per team and month instead of every incident

Revision ID: 0026_team_month_steps
Revises: 0025_team_month_counts
Create Date: 2026-12-01 10:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0026_team_month_steps'
down_revision = '0025_team_month_counts'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('team_month_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('reported_to_sent_hours', sa.LargeBinary(), nullable=False),
    sa.Column('sent_to_accepted_hours', sa.LargeBinary(), nullable=False),
    sa.Column('accepted_to_resolved_hours', sa.LargeBinary(), nullable=False),
    sa.Column('reported_to_resolved_hours', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_team_month_steps_team_id_teams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_team_month_steps'))
    )
    with op.batch_alter_table('team_month_steps', schema=None) as batch_op:
        batch_op.create_index('ix_team_month_steps_period', ['team_id', 'month'], unique=False)

    # Sorted out from the incidents' hours, in the zone the cost months are added up in
    # (none while they are not), by the code that keeps them.
    from fieldsvc.reports import steps

    steps.rebuild(op.get_bind())
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ANALYZE team_month_steps')


def downgrade():
    with op.batch_alter_table('team_month_steps', schema=None) as batch_op:
        batch_op.drop_index('ix_team_month_steps_period')

    op.drop_table('team_month_steps')
