"""failed refunds are kept; back-off for refund look-ups and give-backs

A refund declared not made is kept as ``failed`` instead of being deleted,
so that its order id can still be asked about if it lands at the gateway
late: the unique milestone id becomes a partial unique index over refunds
that are not failed. Refund look-ups and sale give-backs back off between
tries (``checks``/``next_check_at``, ``attempts``/``next_attempt_at``).

Revision ID: c4d1e8a2f7b3
Revises: bf5caa4f8a08
Create Date: 2026-12-10 12:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4d1e8a2f7b3'
down_revision = 'bf5caa4f8a08'
branch_labels = None
depends_on = None

NOT_FAILED = sa.text("status != 'failed'")
STATUSES = "status IN ('pending','unknown','succeeded','failed')"


def upgrade():
    with op.batch_alter_table('refund', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('checks', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('next_check_at', sa.DateTime(), nullable=True))
        batch_op.drop_constraint('uq_refund_milestone', type_='unique')
        batch_op.create_check_constraint(op.f('ck_refund_status'), STATUSES)
        batch_op.create_index(batch_op.f('ix_refund_milestone_id'), ['milestone_id'], unique=False)
        batch_op.create_index('uq_refund_milestone_open', ['milestone_id'], unique=True,
                              sqlite_where=NOT_FAILED, postgresql_where=NOT_FAILED)
    with op.batch_alter_table('sale_return', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(), nullable=True))


def downgrade():
    # Failed refunds did not exist before: they go (their order ids with them), as they used to.
    op.execute("DELETE FROM refund WHERE status = 'failed'")
    with op.batch_alter_table('sale_return', schema=None) as batch_op:
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('attempts')
    with op.batch_alter_table('refund', schema=None) as batch_op:
        batch_op.drop_index('uq_refund_milestone_open')
        batch_op.drop_index(batch_op.f('ix_refund_milestone_id'))
        batch_op.drop_constraint(op.f('ck_refund_status'), type_='check')
        batch_op.create_unique_constraint('uq_refund_milestone', ['milestone_id'])
        batch_op.drop_column('next_check_at')
        batch_op.drop_column('checks')
        batch_op.drop_column('failed_at')
