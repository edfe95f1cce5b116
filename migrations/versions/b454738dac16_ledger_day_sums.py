"""ledger_day: each closed day's ledger sums per member; journal.created_at and the contract lists indexed (issue 14)

The table starts empty and shop_settings.ledger_days_through NULL: every entry is summed live until the
first `jobs run-due` (or `flask ledger days`) sums the closed days.

Revision ID: b454738dac16
Revises: c3f8a1d5e7b9
Create Date: 2026-11-28 01:03:07.238872

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b454738dac16'
down_revision = 'c3f8a1d5e7b9'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('ledger_day',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('account', sa.String(length=12), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_ledger_day_member_id_member')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_day')),
    sa.UniqueConstraint('member_id', 'day', 'currency', 'kind', 'account', name='uq_ledger_day')
    )
    with op.batch_alter_table('ledger_day', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_day_member_totals',
                              ['member_id', 'currency', 'kind', 'account', 'day', 'amount_minor'], unique=False)
        batch_op.create_index('ix_ledger_day_day', ['day'], unique=False)

    with op.batch_alter_table('journal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_journal_created_at'), ['created_at'], unique=False)

    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.create_index('ix_contract_activity', ['last_activity_at', 'id'], unique=False)
        batch_op.create_index('ix_contract_member_state', ['member_id', 'state'], unique=False)

    with op.batch_alter_table('shop_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ledger_days_through', sa.Date(), nullable=True))



def downgrade():
    with op.batch_alter_table('shop_settings', schema=None) as batch_op:
        batch_op.drop_column('ledger_days_through')

    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.drop_index('ix_contract_member_state')
        batch_op.drop_index('ix_contract_activity')

    with op.batch_alter_table('journal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_journal_created_at'))

    with op.batch_alter_table('ledger_day', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_day_day')
        batch_op.drop_index('ix_ledger_day_member_totals')

    op.drop_table('ledger_day')
