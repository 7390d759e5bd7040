"""PostgreSQL's text search of incidents from one trigram index over all the searched text, built anew, instead of one per column

Revision ID: 0022_list_plans
Revises: 0021_dashboard_indexes
Create Date: 2026-11-30 20:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0022_list_plans'
down_revision = '0021_dashboard_indexes'
branch_labels = None
depends_on = None


SEARCHED = ('reference', 'expected', 'actual', 'equipment_tags')
# The searched text of an incident, one field a line: the very expression the search
# (fieldsvc/incidents/search.py) compares, so that PostgreSQL answers it from the index.
SEARCH_TEXT = (
    "(coalesce(reference, '') || chr(10) || coalesce(expected, '') || chr(10) || "
    "coalesce(actual, '') || chr(10) || coalesce(equipment_tags, ''))"
)


def upgrade():
    # SQLite searches its FTS5 table (migration 0011): nothing changes there.
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(
        f'CREATE INDEX ix_incidents_search_text ON incidents USING gin ({SEARCH_TEXT} gin_trgm_ops)'
    )
    for column in SEARCHED:
        op.drop_index(f'ix_incidents_search_{column}', table_name='incidents')
    # Statistics of the indexed expression, for the planner's estimate of a term's matches.
    op.execute('ANALYZE incidents')


def downgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    for column in SEARCHED:
        op.create_index(
            f'ix_incidents_search_{column}',
            'incidents',
            [column],
            postgresql_using='gin',
            postgresql_ops={column: 'gin_trgm_ops'},
        )
    op.drop_index('ix_incidents_search_text', table_name='incidents')
