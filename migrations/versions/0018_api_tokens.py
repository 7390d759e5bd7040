"""API tokens for integrations, service accounts, and external ids on customers, sites, contacts and equipment

Revision ID: 0018_api_tokens
Revises: 0017_job_queue
Create Date: 2026-11-30 11:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import fieldsvc.database


# revision identifiers, used by Alembic.
revision = '0018_api_tokens'
down_revision = '0017_job_queue'
branch_labels = None
depends_on = None

EXTERNAL_IDS = ('customers', 'sites', 'contacts', 'equipment')


def upgrade():
    for table in EXTERNAL_IDS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('external_id', sa.String(length=100), nullable=True))
            batch_op.create_unique_constraint(batch_op.f(f'uq_{table}_external_id'), ['external_id'])

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('service_account', sa.Boolean(), server_default=sa.false(), nullable=False))

    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=12), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', fieldsvc.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', fieldsvc.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', fieldsvc.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', fieldsvc.database.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_api_tokens_created_by_id_users')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_user_id'))
    op.drop_table('api_tokens')

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('service_account')

    for table in reversed(EXTERNAL_IDS):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f'uq_{table}_external_id'), type_='unique')
            batch_op.drop_column('external_id')
