"""client access hardening: codes per way in, and when a contract finished

``verification_code`` gets a ``channel`` (``link`` or ``ref``): a contract has
one row per way in, so codes, tries and locks asked for with only the contract
reference never touch those of the client's link. Existing rows were the
link's (and ``/c``'s) shared row: they become ``link``.

``contract.closed_at`` says when a contract finished (completed, ended,
declined, withdrawn); client links expire some days after. Contracts already
finished take their last activity as that time.

Revision ID: e8a4c71d2f90
Revises: e5a1c7f3b9d2
Create Date: 2026-11-27 19:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e8a4c71d2f90'
down_revision = 'e5a1c7f3b9d2'
branch_labels = None
depends_on = None

FINISHED = ('completed', 'ended', 'declined', 'withdrawn')


def upgrade():
    with op.batch_alter_table('verification_code', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(length=4), server_default='link', nullable=False))
        batch_op.drop_constraint(op.f('uq_verification_code_contract_id'), type_='unique')
        batch_op.create_unique_constraint(op.f('uq_verification_code_contract_channel'), ['contract_id', 'channel'])
        batch_op.create_check_constraint(op.f('ck_verification_code_channel'), "channel IN ('link', 'ref')")

    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.add_column(sa.Column('closed_at', sa.DateTime(), nullable=True))
    contract = sa.table('contract', sa.column('state', sa.String), sa.column('closed_at', sa.DateTime),
                        sa.column('last_activity_at', sa.DateTime))
    op.execute(contract.update().where(contract.c.state.in_(FINISHED))
               .values(closed_at=contract.c.last_activity_at))


def downgrade():
    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.drop_column('closed_at')

    op.execute("DELETE FROM verification_code WHERE channel = 'ref'")
    with op.batch_alter_table('verification_code', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_verification_code_channel'), type_='check')
        batch_op.drop_constraint(op.f('uq_verification_code_contract_channel'), type_='unique')
        batch_op.create_unique_constraint(op.f('uq_verification_code_contract_id'), ['contract_id'])
        batch_op.drop_column('channel')
