"""the contract's audit chain head is sealed with a key outside the database and anchored by TSA timestamps

Revision ID: b7d2e4a91c05
Revises: 951e6ef2e824
Create Date: 2026-12-02 15:20:00

Heads written before stay unsealed (the migration does not have the key): `flask audit seal` seals each whose
chain verifies, once, after upgrading (README, "Upgrading").
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = 'b7d2e4a91c05'
down_revision = '951e6ef2e824'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.add_column(sa.Column('audit_seal', sa.String(length=64), server_default='', nullable=False))
    op.create_table(
        'audit_anchor',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('contract_id', sa.Integer(), nullable=False),
        sa.Column('head', sa.String(length=64), nullable=False),
        sa.Column('events', sa.Integer(), nullable=False),
        sa.Column('token', sa.LargeBinary(), nullable=False),
        sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['contract_id'], ['contract.id'], name=op.f('fk_audit_anchor_contract_id_contract')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_anchor')),
    )
    op.create_index('ix_audit_anchor_contract', 'audit_anchor', ['contract_id', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_audit_anchor_contract', table_name='audit_anchor')
    op.drop_table('audit_anchor')
    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.drop_column('audit_seal')
