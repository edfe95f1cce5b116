"""ops record: when the jobs last ran, and the last health check

``ops_record`` holds one row per name, overwritten: ``jobs.run_due`` (the
end of the last ``jobs run-due``, which ``flask doctor`` checks is recent) and
``health`` (the last health check's results, shown on the owner's settings
page without running the checks on every view).

Revision ID: f2b9d4e7a1c3
Revises: e8a4c71d2f90
Create Date: 2026-11-27 20:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f2b9d4e7a1c3'
down_revision = 'e8a4c71d2f90'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'ops_record',
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_ops_record')),
    )


def downgrade():
    op.drop_table('ops_record')
