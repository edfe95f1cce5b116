"""an index for the bell's unread count: notification (member_id, read_at)

Every member page counts the member's unread notifications; with the index the
database reads only those rows. ``acceptance.revision_id`` needs no index of its own:
its unique constraint (e5a1c7f3b9d2) is one.

Revision ID: b8d2e5f1a3c6
Revises: f2c9a6d1e4b7
Create Date: 2026-11-27 21:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'b8d2e5f1a3c6'
down_revision = 'f2c9a6d1e4b7'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index('ix_notification_member_unread', ['member_id', 'read_at'], unique=False)


def downgrade():
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index('ix_notification_member_unread')
