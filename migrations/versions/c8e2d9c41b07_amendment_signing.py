"""amendment signing: a 补充协议's signing chain and signatures, beside the contract's own

Revision ID: c8e2d9c41b07
Revises: c9e2d9c41b08
Create Date: 2026-12-03 06:30:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = 'c8e2d9c41b07'
down_revision = 'c9e2d9c41b08'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('contract_amendment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('document_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('signed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    for table in ('signed_document', 'signature'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('amendment_id', sa.Integer(), nullable=True))
            batch_op.create_index(batch_op.f(f'ix_{table}_amendment_id'), ['amendment_id'], unique=False)
            batch_op.create_foreign_key(batch_op.f(f'fk_{table}_amendment_id_contract_amendment'),
                                        'contract_amendment', ['amendment_id'], ['id'])


def downgrade():
    for table in ('signature', 'signed_document'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f'fk_{table}_amendment_id_contract_amendment'), type_='foreignkey')
            batch_op.drop_index(batch_op.f(f'ix_{table}_amendment_id'))
            batch_op.drop_column('amendment_id')
    with op.batch_alter_table('contract_amendment', schema=None) as batch_op:
        batch_op.drop_column('signed_at')
        batch_op.drop_column('document_id')
