"""contract template versions

Revision ID: 2ea64f22fe94
Revises: fe07a6c69f8f
Create Date: 2026-11-22 11:53:42.192252
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '2ea64f22fe94'
down_revision = 'fe07a6c69f8f'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('contract_template',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contract_template')),
    sa.UniqueConstraint('kind', 'version', name=op.f('uq_contract_template_kind_version'))
    )
    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.add_column(sa.Column('template_version', sa.Integer(), server_default='1', nullable=False))



def downgrade():
    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.drop_column('template_version')

    op.drop_table('contract_template')
