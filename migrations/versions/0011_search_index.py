"""Text search of incidents by the database's own index: the tags of each incident's equipment kept on the incident; a trigram FTS5 table on SQLite, pg_trgm GIN indexes on PostgreSQL

The incident list's search finds a term anywhere in the reference, what was expected,
what happened and the equipment tags, ignoring case. Both indexes find such substrings
of three characters or more without reading every incident.

On SQLite `incident_search` is an FTS5 table over the incidents table itself (external
content), kept equal to it by the triggers below; a migration that later rebuilds
`incidents` in batch mode drops these triggers and must create them again.

Revision ID: 0011_search_index
Revises: 0010_incident_overdue_state
Create Date: 2026-11-30 08:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011_search_index'
down_revision = '0010_incident_overdue_state'
branch_labels = None
depends_on = None

SEARCHED = ('reference', 'expected', 'actual', 'equipment_tags')
COLUMNS = ', '.join(SEARCHED)
OLD = ', '.join(f'old.{column}' for column in SEARCHED)
NEW = ', '.join(f'new.{column}' for column in SEARCHED)

# As the SQLite FTS5 documentation keeps an external-content table: the old row's
# values out of the index, the new row's in.
SQLITE_TRIGGERS = {
    'incident_search_insert': f"""
        CREATE TRIGGER incident_search_insert AFTER INSERT ON incidents BEGIN
            INSERT INTO incident_search(rowid, {COLUMNS}) VALUES (new.id, {NEW});
        END""",
    'incident_search_delete': f"""
        CREATE TRIGGER incident_search_delete AFTER DELETE ON incidents BEGIN
            INSERT INTO incident_search(incident_search, rowid, {COLUMNS})
            VALUES ('delete', old.id, {OLD});
        END""",
    'incident_search_update': f"""
        CREATE TRIGGER incident_search_update AFTER UPDATE OF {COLUMNS} ON incidents BEGIN
            INSERT INTO incident_search(incident_search, rowid, {COLUMNS})
            VALUES ('delete', old.id, {OLD});
            INSERT INTO incident_search(rowid, {COLUMNS}) VALUES (new.id, {NEW});
        END""",
}


def upgrade():
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('equipment_tags', sa.Text(), nullable=True))

    sqlite = op.get_bind().dialect.name == 'sqlite'
    tags = "group_concat(e.tag, char(10))" if sqlite else "string_agg(e.tag, chr(10) ORDER BY e.tag)"
    op.execute(
        f"UPDATE incidents SET equipment_tags = (SELECT {tags} "
        "FROM incident_equipment l JOIN equipment e ON e.id = l.equipment_id "
        "WHERE l.incident_id = incidents.id)"
    )
    if sqlite:
        op.execute(
            f"CREATE VIRTUAL TABLE incident_search USING fts5({COLUMNS}, "
            "content='incidents', content_rowid='id', tokenize='trigram')"
        )
        for trigger in SQLITE_TRIGGERS.values():
            op.execute(trigger)
        op.execute("INSERT INTO incident_search(incident_search) VALUES ('rebuild')")
    else:
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        for column in SEARCHED:
            op.create_index(
                f'ix_incidents_search_{column}',
                'incidents',
                [column],
                postgresql_using='gin',
                postgresql_ops={column: 'gin_trgm_ops'},
            )


def downgrade():
    if op.get_bind().dialect.name == 'sqlite':
        for trigger in SQLITE_TRIGGERS:
            op.execute(f'DROP TRIGGER IF EXISTS {trigger}')
        op.execute('DROP TABLE incident_search')
    else:
        for column in SEARCHED:
            op.drop_index(f'ix_incidents_search_{column}', table_name='incidents')
        # pg_trgm stays: other database objects may have come to rely on it.

    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_column('equipment_tags')
