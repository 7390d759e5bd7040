"""Audit trail sealed with a keyed MAC: the key id on each event

Revision ID: 0006_audit_seal
Revises: 0005_supervisors
Create Date: 2026-11-30 05:30:00.000000

Events written from now on carry the id of the audit key (FIELDSVC_AUDIT_KEYS) whose
HMAC-SHA-256 is in `hash`. Existing events keep their plain SHA-256 hash and no key id:
no row is changed and the append-only triggers stay in place. They move over with
`flask --app fieldsvc audit reseal --from-plain`, which verifies the plain chain and
then appends one sealed `chain_sealed` event that vouches for it (see docs/operations.md).
"""

import logging

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0006_audit_seal"
down_revision = "0005_supervisors"
branch_labels = None
depends_on = None


def upgrade():
    # SQLite adds the column in place (ALTER TABLE ... ADD COLUMN), so the table is not
    # rebuilt and its append-only triggers survive.
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_id", sa.String(length=40), nullable=True))

    plain = op.get_bind().scalar(sa.text("SELECT count(*) FROM audit_events"))
    if plain:
        logging.getLogger("alembic.runtime.migration").warning(
            "%s audit events have a plain SHA-256 chain: check and seal them with "
            "`flask --app fieldsvc audit reseal --from-plain`; until then `audit verify` "
            "reports them as not sealed",
            plain,
        )


def downgrade():
    # The older code checks every `hash` as plain SHA-256, so events sealed since the
    # upgrade will fail its `audit verify`. A batch drop_column would rebuild the SQLite
    # table and lose its append-only triggers; SQLite (3.35+) drops the column in place.
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE audit_events DROP COLUMN key_id")
    else:
        op.drop_column("audit_events", "key_id")
