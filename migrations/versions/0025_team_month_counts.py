"""Incidents by cause and customers' answers by kind counted per team and calendar month, so the dashboard's year and 90 days read a row per month for their whole months

Revision ID: 0025_team_month_counts
Revises: 0024_search_reindex
Create Date: 2026-12-01 10:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0025_team_month_counts'
down_revision = '0024_search_reindex'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('team_month_counts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('cause_category', sa.Enum('pre_existing', 'customer', 'our_technician', 'third_party', 'unknown', name='causecategory', native_enum=False, length=30), nullable=True),
    sa.Column('answer_kind', sa.Enum('accepted', 'changes_requested', 'declined', name='responsekind', native_enum=False, length=30), nullable=True),
    sa.Column('counted', sa.Integer(), nullable=False),
    sa.CheckConstraint('(cause_category IS NULL) <> (answer_kind IS NULL)', name=op.f('ck_team_month_counts_incidents_or_answers')),
    sa.CheckConstraint('counted > 0', name=op.f('ck_team_month_counts_something_counted')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_team_month_counts_team_id_teams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_team_month_counts'))
    )
    with op.batch_alter_table('team_month_counts', schema=None) as batch_op:
        batch_op.create_index('ix_team_month_counts_period', ['team_id', 'month', 'cause_category', 'answer_kind', 'counted'], unique=False)

    # Counted from the incidents and answers in the zone the months are added up in, by
    # the code that keeps them (as 0015 added up the months).
    from zoneinfo import ZoneInfo

    from fieldsvc import clock
    from fieldsvc.reports import months

    connection = op.get_bind()
    zone = months.zone_added_up_in(connection)
    months.rebuild_counts(connection, ZoneInfo(zone) if zone else clock.company_zone())
    if connection.dialect.name == 'postgresql':
        op.execute('ANALYZE team_month_counts')


def downgrade():
    with op.batch_alter_table('team_month_counts', schema=None) as batch_op:
        batch_op.drop_index('ix_team_month_counts_period')

    op.drop_table('team_month_counts')
