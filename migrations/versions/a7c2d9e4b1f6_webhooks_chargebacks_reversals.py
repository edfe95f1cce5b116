"""webhook notifications stored raw; chargebacks and their evidence; reversal and chargeback journals

``webhook_notification`` (each verified notification, once: unique digest),
``chargeback`` and ``chargeback_evidence``; journals of kind ``reversal``
(a payment whose settlement was declined) and ``chargeback`` (a lost
chargeback, ``journal.chargeback_id``); one funding journal per payment is
now "one journal of each kind per payment"; payment status ``reversed``;
ledger account ``shop`` (a chargeback beyond what the client still had paid).

Revision ID: a7c2d9e4b1f6
Revises: 5e7a91c3d2b8
Create Date: 2026-11-27 19:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a7c2d9e4b1f6'
down_revision = '5e7a91c3d2b8'
branch_labels = None
depends_on = None

ATTEMPT_OLD = "status IN ('pending','succeeded','declined','rejected','failed','unknown','returned')"
ATTEMPT_NEW = "status IN ('pending','succeeded','declined','rejected','failed','unknown','returned','reversed')"
KIND_OLD = "kind IN ('funding','release','refund')"
KIND_NEW = "kind IN ('funding','release','refund','reversal','chargeback')"
ACCOUNT_OLD = "account IN ('client','escrow','freelancer','fees')"
ACCOUNT_NEW = "account IN ('client','escrow','freelancer','fees','shop')"


def upgrade():
    op.create_table(
        'webhook_notification',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=60), nullable=False),
        sa.Column('subject_id', sa.String(length=64), nullable=True),
        sa.Column('payload', sa.Text(), nullable=False),
        sa.Column('event', sa.Text(), nullable=False),
        sa.Column('sent_at', sa.DateTime(), nullable=True),
        sa.Column('received_at', sa.DateTime(), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('tries', sa.Integer(), nullable=False),
        sa.Column('applied_at', sa.DateTime(), nullable=True),
        sa.Column('message', sa.Text(), nullable=False),
        sa.CheckConstraint("status IN ('received','applied','ignored')",
                           name=op.f('ck_webhook_notification_status')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_notification')),
        sa.UniqueConstraint('digest', name=op.f('uq_webhook_notification_digest')),
    )
    with op.batch_alter_table('webhook_notification', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_notification_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_webhook_notification_subject_id'), ['subject_id'], unique=False)

    op.create_table(
        'chargeback',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('gateway_id', sa.String(length=64), nullable=False),
        sa.Column('transaction_id', sa.String(length=64), nullable=False),
        sa.Column('attempt_id', sa.String(length=36), nullable=True),
        sa.Column('contract_id', sa.Integer(), nullable=True),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('reason', sa.String(length=60), nullable=False),
        sa.Column('reply_by', sa.Date(), nullable=True),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('opened_at', sa.DateTime(), nullable=False),
        sa.Column('closed_at', sa.DateTime(), nullable=True),
        sa.Column('event_at', sa.DateTime(), nullable=True),
        sa.Column('finalized_at', sa.DateTime(), nullable=True),
        sa.CheckConstraint("status IN ('open','won','lost','accepted')", name=op.f('ck_chargeback_status')),
        sa.CheckConstraint('amount_minor > 0', name=op.f('ck_chargeback_amount_positive')),
        sa.ForeignKeyConstraint(['attempt_id'], ['payment_attempt.id'],
                                name=op.f('fk_chargeback_attempt_id_payment_attempt')),
        sa.ForeignKeyConstraint(['contract_id'], ['contract.id'], name=op.f('fk_chargeback_contract_id_contract')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_chargeback')),
        sa.UniqueConstraint('gateway_id', name=op.f('uq_chargeback_gateway_id')),
    )
    with op.batch_alter_table('chargeback', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_chargeback_attempt_id'), ['attempt_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_chargeback_contract_id'), ['contract_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_chargeback_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_chargeback_transaction_id'), ['transaction_id'], unique=False)

    op.create_table(
        'chargeback_evidence',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('chargeback_id', sa.Integer(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('gateway_id', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['chargeback_id'], ['chargeback.id'],
                                name=op.f('fk_chargeback_evidence_chargeback_id_chargeback')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_chargeback_evidence')),
    )
    with op.batch_alter_table('chargeback_evidence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_chargeback_evidence_chargeback_id'), ['chargeback_id'], unique=False)

    with op.batch_alter_table('payment_attempt', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_payment_attempt_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_payment_attempt_status'), ATTEMPT_NEW)
    with op.batch_alter_table('journal', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chargeback_id', sa.Integer(), nullable=True))
        batch_op.drop_constraint('uq_journal_payment_attempt', type_='unique')
        batch_op.create_unique_constraint('uq_journal_payment_attempt_kind', ['payment_attempt_id', 'kind'])
        batch_op.create_unique_constraint(batch_op.f('uq_journal_chargeback_id'), ['chargeback_id'])
        batch_op.create_foreign_key(batch_op.f('fk_journal_chargeback_id_chargeback'), 'chargeback',
                                    ['chargeback_id'], ['id'])
        batch_op.drop_constraint(op.f('ck_journal_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_journal_kind'), KIND_NEW)
    with op.batch_alter_table('ledger_entry', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_ledger_entry_account'), type_='check')
        batch_op.create_check_constraint(op.f('ck_ledger_entry_account'), ACCOUNT_NEW)


def downgrade():
    # Reversal and chargeback journals cannot be expressed before this revision: refuse to lose them.
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM journal WHERE kind IN ('reversal','chargeback')")).scalar():
        raise RuntimeError("reversal or chargeback journals exist: the ledger cannot go back to before them")
    with op.batch_alter_table('ledger_entry', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_ledger_entry_account'), type_='check')
        batch_op.create_check_constraint(op.f('ck_ledger_entry_account'), ACCOUNT_OLD)
    with op.batch_alter_table('journal', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_journal_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_journal_kind'), KIND_OLD)
        batch_op.drop_constraint(batch_op.f('fk_journal_chargeback_id_chargeback'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_journal_chargeback_id'), type_='unique')
        batch_op.drop_constraint('uq_journal_payment_attempt_kind', type_='unique')
        batch_op.create_unique_constraint('uq_journal_payment_attempt', ['payment_attempt_id'])
        batch_op.drop_column('chargeback_id')
    op.execute("UPDATE payment_attempt SET status = 'succeeded' WHERE status = 'reversed'")
    with op.batch_alter_table('payment_attempt', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_payment_attempt_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_payment_attempt_status'), ATTEMPT_OLD)
    op.drop_table('chargeback_evidence')
    op.drop_table('chargeback')
    op.drop_table('webhook_notification')
