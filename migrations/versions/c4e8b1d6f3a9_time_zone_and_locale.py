"""time zone and locale for members and the shop

``shop_settings.time_zone`` / ``locale``: what clients (no account) see, and the
members' default. ``member.time_zone`` / ``locale``: a member's own choice, NULL
to follow the shop's.

Revision ID: c4e8b1d6f3a9
Revises: a7d3e9f1c5b2
Create Date: 2026-11-27 22:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4e8b1d6f3a9'
down_revision = 'a7d3e9f1c5b2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('shop_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('time_zone', sa.String(length=64), server_default='UTC', nullable=False))
        batch_op.add_column(sa.Column('locale', sa.String(length=16), server_default='en_US', nullable=False))
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.add_column(sa.Column('time_zone', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('locale', sa.String(length=16), nullable=True))


def downgrade():
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.drop_column('locale')
        batch_op.drop_column('time_zone')
    with op.batch_alter_table('shop_settings', schema=None) as batch_op:
        batch_op.drop_column('locale')
        batch_op.drop_column('time_zone')
