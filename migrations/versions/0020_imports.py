"""Spreadsheet imports: the uploaded file kept between its preview and its import

Revision ID: 0020_imports
Revises: 0019_webhooks
Create Date: 2026-11-30 14:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import fieldsvc.database


# revision identifiers, used by Alembic.
revision = '0020_imports'
down_revision = '0019_webhooks'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('spreadsheet_imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('file_format', sa.String(length=8), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('uploaded_at', fieldsvc.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('imported_at', fieldsvc.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('counts', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_spreadsheet_imports_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_spreadsheet_imports')),
    sa.UniqueConstraint('token', name=op.f('uq_spreadsheet_imports_token'))
    )
    with op.batch_alter_table('spreadsheet_imports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spreadsheet_imports_uploaded_at'), ['uploaded_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_spreadsheet_imports_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('spreadsheet_imports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spreadsheet_imports_user_id'))
        batch_op.drop_index(batch_op.f('ix_spreadsheet_imports_uploaded_at'))
    op.drop_table('spreadsheet_imports')
