"""shop_settings: the shop's brand (accent colour, contact email, logo)

Revision ID: c3f8a1d5e7b9
Revises: c4e8a2f6d1b9
Create Date: 2026-11-27 22:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c3f8a1d5e7b9'
down_revision = "c4e8a2f6d1b9"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('shop_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('accent_colour', sa.String(length=7), nullable=True))
        batch_op.add_column(sa.Column('contact_email', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('logo', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('logo_type', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('logo_version', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('logo_width', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('logo_height', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('shop_settings', schema=None) as batch_op:
        for name in ('logo_height', 'logo_width', 'logo_version', 'logo_type', 'logo', 'contact_email',
                     'accent_colour'):
            batch_op.drop_column(name)
