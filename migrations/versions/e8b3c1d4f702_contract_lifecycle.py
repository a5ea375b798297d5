"""contract lifecycle: renewals (a link both ways), notices of non-renewal, termination with its effective date

Revision ID: e8b3c1d4f702
Revises: e8b3c6d41a27
Create Date: 2026-12-09 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = 'e8b3c1d4f702'
down_revision = 'e8b3c6d41a27'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.add_column(sa.Column('renewal_of_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('renewed_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('non_renewal_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('non_renewal_party', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('terminates_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('termination_reason', sqlmodel.sql.sqltypes.AutoString(length=500),
                                      nullable=False, server_default=''))
        batch_op.create_index(batch_op.f('ix_contract_renewal_of_id'), ['renewal_of_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_contract_renewal_of_id_contract'), 'contract', ['renewal_of_id'],
                                    ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_contract_renewed_by_id_contract'), 'contract', ['renewed_by_id'],
                                    ['id'])


def downgrade():
    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_contract_renewed_by_id_contract'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_contract_renewal_of_id_contract'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_contract_renewal_of_id'))
        batch_op.drop_column('termination_reason')
        batch_op.drop_column('terminates_on')
        batch_op.drop_column('non_renewal_party')
        batch_op.drop_column('non_renewal_at')
        batch_op.drop_column('renewed_by_id')
        batch_op.drop_column('renewal_of_id')
