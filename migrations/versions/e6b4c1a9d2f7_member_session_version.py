"""member session version: logging out ends a member's sessions, copied cookies included

``member.session_version`` is kept in each session at login and checked on
every request (``web/sessions.py``); logging out moves it on. Existing
members start at 1; sessions from before this revision do not carry a
version, so everyone logs in again once.

Revision ID: e6b4c1a9d2f7
Revises: d3f8b2c6a915
Create Date: 2026-11-28 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e6b4c1a9d2f7'
down_revision = 'd3f8b2c6a915'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default='1', nullable=False))


def downgrade():
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.drop_column('session_version')
