"""sales the ledger could not take: the attempt status "returned" and the sale_return table

A sale that lands on a contract that can no longer take it (declined,
withdrawn, ended, completed, or its milestones paid meanwhile), or after its
attempt was given up on, is voided or refunded instead of funding escrow.
``sale_return`` records each such sale once (unique transaction id) before the
gateway is asked, so two reconcilers never give one sale back twice.

Revision ID: bf5caa4f8a08
Revises: 9b3e1f2a7c40
Create Date: 2026-12-03 12:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'bf5caa4f8a08'
down_revision = '9b3e1f2a7c40'
branch_labels = None
depends_on = None

OLD_STATUSES = "status IN ('pending','succeeded','declined','rejected','failed','unknown')"
NEW_STATUSES = "status IN ('pending','succeeded','declined','rejected','failed','unknown','returned')"


def upgrade():
    op.create_table('sale_return',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('transaction_id', sa.String(length=64), nullable=False),
    sa.Column('order_id', sa.String(length=64), nullable=True),
    sa.Column('attempt_id', sa.String(length=36), nullable=True),
    sa.Column('contract_id', sa.Integer(), nullable=True),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('return_transaction_id', sa.String(length=64), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('claimed_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("status IN ('returning','voided','refunded')", name=op.f('ck_sale_return_status')),
    sa.CheckConstraint('amount_minor > 0', name=op.f('ck_sale_return_amount_positive')),
    sa.ForeignKeyConstraint(['attempt_id'], ['payment_attempt.id'], name=op.f('fk_sale_return_attempt_id_payment_attempt')),
    sa.ForeignKeyConstraint(['contract_id'], ['contract.id'], name=op.f('fk_sale_return_contract_id_contract')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sale_return')),
    sa.UniqueConstraint('transaction_id', name=op.f('uq_sale_return_transaction_id'))
    )
    with op.batch_alter_table('sale_return', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sale_return_attempt_id'), ['attempt_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sale_return_contract_id'), ['contract_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sale_return_status'), ['status'], unique=False)
    with op.batch_alter_table('payment_attempt', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_payment_attempt_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_payment_attempt_status'), NEW_STATUSES)


def downgrade():
    # Fails (as it should) while an attempt is "returned": its history would be lost.
    with op.batch_alter_table('payment_attempt', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_payment_attempt_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_payment_attempt_status'), OLD_STATUSES)
    with op.batch_alter_table('sale_return', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sale_return_status'))
        batch_op.drop_index(batch_op.f('ix_sale_return_contract_id'))
        batch_op.drop_index(batch_op.f('ix_sale_return_attempt_id'))
    op.drop_table('sale_return')
