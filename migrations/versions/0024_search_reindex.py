"""The search's trigram indexes built afresh on PostgreSQL: the report figures' backfill rewrote every incident, which left them slow for rare terms

Revision ID: 0024_search_reindex
Revises: 0022_team_months
Create Date: 2026-11-30 23:40:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0024_search_reindex'
down_revision = '0022_team_months'
branch_labels = None
depends_on = None


# The index names of migration 0011, written out: a migration does not follow the app's code.
INDEXES = (
    'ix_incidents_search_reference',
    'ix_incidents_search_expected',
    'ix_incidents_search_actual',
    'ix_incidents_search_equipment_tags',
)


def upgrade():
    # 0012 filled in the report figures with one UPDATE of every incident. Since then, on a
    # database that had incidents, each trigram index holds what is left of two entries a
    # row, and a term that matches nothing takes milliseconds to rule out. SQLite's FTS5
    # table is not affected.
    if op.get_bind().dialect.name == 'postgresql':
        for name in INDEXES:
            op.execute(f'REINDEX INDEX {name}')


def downgrade():
    pass  # nothing to undo: the indexes are the same, only built afresh
