"""Photos are shown to the customer only when chosen, with a caption; each sent revision keeps the photos it showed

Revision ID: 0014_photo_visibility
Revises: 0013_time_zones
Create Date: 2026-11-30 08:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014_photo_visibility'
down_revision = '0013_time_zones'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('shown_to_customer', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('caption', sa.String(length=200), nullable=True))

    op.create_table('revision_photos',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('revision_id', sa.Integer(), nullable=False),
    sa.Column('attachment_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('caption', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['attachment_id'], ['attachments.id'], name=op.f('fk_revision_photos_attachment_id_attachments')),
    sa.ForeignKeyConstraint(['revision_id'], ['proposal_revisions.id'], name=op.f('fk_revision_photos_revision_id_proposal_revisions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_revision_photos')),
    sa.UniqueConstraint('revision_id', 'attachment_id', name=op.f('uq_revision_photos_revision_id_attachment_id'))
    )
    with op.batch_alter_table('revision_photos', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_revision_photos_attachment_id'), ['attachment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_revision_photos_revision_id'), ['revision_id'], unique=False)

    # Revisions sent before: their frozen PDFs printed every photo the incident had when
    # they were sent. Those photos are what their customers saw, so they are that
    # revision's photos, and they stay shown to the customer; every other photo from
    # before is kept for us until someone chooses to show it, as new photos are.
    op.execute(
        "INSERT INTO revision_photos (revision_id, attachment_id, position, caption) "
        "SELECT r.id, a.id, ROW_NUMBER() OVER (PARTITION BY r.id ORDER BY a.id), NULL "
        "FROM proposal_revisions r "
        "JOIN proposals p ON p.id = r.proposal_id "
        "JOIN attachments a ON a.incident_id = p.incident_id AND a.uploaded_at <= r.sent_at "
        "WHERE r.pdf_key IS NOT NULL"
    )
    attachments = sa.table('attachments', sa.column('id'), sa.column('shown_to_customer', sa.Boolean))
    frozen = sa.table('revision_photos', sa.column('attachment_id'))
    op.execute(
        attachments.update()
        .where(attachments.c.id.in_(sa.select(frozen.c.attachment_id)))
        .values(shown_to_customer=True)
    )


def downgrade():
    with op.batch_alter_table('revision_photos', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_revision_photos_revision_id'))
        batch_op.drop_index(batch_op.f('ix_revision_photos_attachment_id'))

    op.drop_table('revision_photos')
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.drop_column('caption')
        batch_op.drop_column('shown_to_customer')
