"""member deactivation and password reset links

``member.deactivated_at``: the owner deactivates a member (they cannot log in;
their contracts stay). ``password_reset``: a forgotten-password link's token,
stored only as its SHA-256, single use, with an expiry.

Revision ID: f2c9a6d1e4b7
Revises: f2b9d4e7a1c3
Create Date: 2026-11-27 20:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f2c9a6d1e4b7'
down_revision = 'f2b9d4e7a1c3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deactivated_at', sa.DateTime(), nullable=True))

    op.create_table(
        'password_reset',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('member_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('used_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_password_reset_member_id_member')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_password_reset')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_password_reset_token_hash')),
    )
    with op.batch_alter_table('password_reset', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_password_reset_member_id'), ['member_id'], unique=False)


def downgrade():
    with op.batch_alter_table('password_reset', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_password_reset_member_id'))
    op.drop_table('password_reset')

    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.drop_column('deactivated_at')
