"""a charge's settlement status; a partial refund of an unsettled charge is queued

``payment_attempt.settlement`` (Braintree's status: submitted_for_settlement,
settling, settled, settlement_declined, voided) and when it was last looked
up; a refund may be ``queued`` until its charge settles.

Revision ID: 5e7a91c3d2b8
Revises: 23caa814a5e0
Create Date: 2026-11-27 17:15:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5e7a91c3d2b8'
down_revision = '23caa814a5e0'
branch_labels = None
depends_on = None

OLD = "status IN ('pending','unknown','succeeded','failed')"
NEW = "status IN ('queued','pending','unknown','succeeded','failed')"


def upgrade():
    with op.batch_alter_table('payment_attempt', schema=None) as batch_op:
        batch_op.add_column(sa.Column('settlement', sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column('settlement_checked_at', sa.DateTime(), nullable=True))
    with op.batch_alter_table('refund', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_refund_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_refund_status'), NEW)


def downgrade():
    # A queued refund asked nothing of the gateway yet: it goes, as if never asked for.
    op.execute("DELETE FROM refund WHERE status = 'queued'")
    with op.batch_alter_table('refund', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_refund_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_refund_status'), OLD)
    with op.batch_alter_table('payment_attempt', schema=None) as batch_op:
        batch_op.drop_column('settlement_checked_at')
        batch_op.drop_column('settlement')
