"""one signature per revision: a unique constraint on acceptance.revision_id

Two concurrent first submits of the fund form (or of a signature) could both sign one revision.
A database that already holds such a pair keeps the first signature (the lowest id) and drops the
later copies, which recorded the same revision; the signature that counted is kept.

Revision ID: e5a1c7f3b9d2
Revises: e6b4c1a9d2f7
Create Date: 2026-11-27 20:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e5a1c7f3b9d2'
down_revision = 'e6b4c1a9d2f7'
branch_labels = None
depends_on = None


def upgrade():
    op.execute(sa.text(
        "DELETE FROM acceptance WHERE id NOT IN "
        "(SELECT keep FROM (SELECT MIN(id) AS keep FROM acceptance GROUP BY revision_id) AS firsts)"))
    with op.batch_alter_table('acceptance', schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f('uq_acceptance_revision_id'), ['revision_id'])


def downgrade():
    with op.batch_alter_table('acceptance', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_acceptance_revision_id'), type_='unique')
