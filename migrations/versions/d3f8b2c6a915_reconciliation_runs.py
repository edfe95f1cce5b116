"""reconciliation runs: what each comparison with the gateway's own records found

``reconciliation_run`` keeps each run of ``services.gateway_audit`` (period,
ok, the mismatches in plain words, counts and totals per currency), so the
owner's page shows the last one without calling the gateway.

Revision ID: d3f8b2c6a915
Revises: a7c2d9e4b1f6
Create Date: 2026-11-27 19:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd3f8b2c6a915'
down_revision = 'a7c2d9e4b1f6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'reconciliation_run',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('ran_at', sa.DateTime(), nullable=False),
        sa.Column('since', sa.DateTime(), nullable=False),
        sa.Column('until', sa.DateTime(), nullable=False),
        sa.Column('ok', sa.Boolean(), nullable=False),
        sa.Column('reachable', sa.Boolean(), nullable=False),
        sa.Column('problems', sa.JSON(), nullable=False),
        sa.Column('settled', sa.JSON(), nullable=False),
        sa.Column('counts', sa.JSON(), nullable=False),
        sa.Column('totals', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_reconciliation_run')),
    )
    with op.batch_alter_table('reconciliation_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reconciliation_run_ran_at'), ['ran_at'], unique=False)


def downgrade():
    with op.batch_alter_table('reconciliation_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reconciliation_run_ran_at'))
    op.drop_table('reconciliation_run')
