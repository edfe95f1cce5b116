"""amounts in 64-bit columns; wider shop amount limits

Every amount in minor units becomes BIGINT: 22 milestones of $1,000,000.00
already add up to more than a 32-bit INTEGER holds. The shop's min/max
limits (major units) widen to NUMERIC(20, 3) so the largest limit the
amount columns can hold (domain.terms.largest_max_amount) fits.

On SQLite both types are the same 64-bit INTEGER storage; the batch
operations recreate the tables so the declared types match the models.

Revision ID: 9b3e1f2a7c40
Revises: 70d125f59d6c
Create Date: 2026-12-03 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9b3e1f2a7c40'
down_revision = '70d125f59d6c'
branch_labels = None
depends_on = None

AMOUNT_TABLES = ('milestone', 'payment_attempt', 'payment_item', 'ledger_entry', 'refund')


def upgrade():
    for table in AMOUNT_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('amount_minor', existing_type=sa.Integer(), type_=sa.BigInteger(),
                                  existing_nullable=False)
    with op.batch_alter_table('shop_settings', schema=None) as batch_op:
        batch_op.alter_column('min_amount', existing_type=sa.Numeric(precision=12, scale=3),
                              type_=sa.Numeric(precision=20, scale=3), existing_nullable=False)
        batch_op.alter_column('max_amount', existing_type=sa.Numeric(precision=14, scale=3),
                              type_=sa.Numeric(precision=20, scale=3), existing_nullable=False)


def downgrade():
    # Fails (as it should) if a stored amount no longer fits the narrower columns.
    with op.batch_alter_table('shop_settings', schema=None) as batch_op:
        batch_op.alter_column('max_amount', existing_type=sa.Numeric(precision=20, scale=3),
                              type_=sa.Numeric(precision=14, scale=3), existing_nullable=False)
        batch_op.alter_column('min_amount', existing_type=sa.Numeric(precision=20, scale=3),
                              type_=sa.Numeric(precision=12, scale=3), existing_nullable=False)
    for table in reversed(AMOUNT_TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('amount_minor', existing_type=sa.BigInteger(), type_=sa.Integer(),
                                  existing_nullable=False)
