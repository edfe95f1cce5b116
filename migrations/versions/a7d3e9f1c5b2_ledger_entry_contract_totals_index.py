"""ledger_entry: a covering index for a member's totals

``ix_ledger_entry_contract_totals`` (contract_id, account, journal_id, currency, amount_minor) replaces
``ix_ledger_entry_contract_id``: its first column still serves the foreign key, and the contracts list's
summary cards (services.ledger.member_money) read their entries from the index alone.

Revision ID: a7d3e9f1c5b2
Revises: b8d2e5f1a3c6
Create Date: 2026-11-27 21:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'a7d3e9f1c5b2'
down_revision = 'b8d2e5f1a3c6'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('ledger_entry', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_entry_contract_totals',
                              ['contract_id', 'account', 'journal_id', 'currency', 'amount_minor'], unique=False)
        batch_op.drop_index('ix_ledger_entry_contract_id')


def downgrade():
    with op.batch_alter_table('ledger_entry', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_entry_contract_id', ['contract_id'], unique=False)
        batch_op.drop_index('ix_ledger_entry_contract_totals')
