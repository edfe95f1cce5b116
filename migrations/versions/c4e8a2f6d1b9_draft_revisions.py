"""draft revisions: contract.draft_of_id and milestone.draft_of_id

Editing a sent proposal makes a draft revision, a copy the builder edits (a contract row whose
``draft_of_id`` names the sent contract, unique: one draft revision at a time), while the client keeps
the sent revision. A copied milestone's ``draft_of_id`` names the sent milestone it edits, so sending
the revision updates that milestone in place.

Revision ID: c4e8a2f6d1b9
Revises: c4e8b1d6f3a9
Create Date: 2026-11-27 22:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4e8a2f6d1b9'
down_revision = "c4e8b1d6f3a9"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.add_column(sa.Column('draft_of_id', sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_contract_draft_of_id'), ['draft_of_id'])
        batch_op.create_foreign_key(batch_op.f('fk_contract_draft_of_id_contract'), 'contract',
                                    ['draft_of_id'], ['id'])
    with op.batch_alter_table('milestone', schema=None) as batch_op:
        batch_op.add_column(sa.Column('draft_of_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_milestone_draft_of_id_milestone'), 'milestone',
                                    ['draft_of_id'], ['id'])


def downgrade():
    with op.batch_alter_table('milestone', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_milestone_draft_of_id_milestone'), type_='foreignkey')
        batch_op.drop_column('draft_of_id')
    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_contract_draft_of_id_contract'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_contract_draft_of_id'), type_='unique')
        batch_op.drop_column('draft_of_id')
