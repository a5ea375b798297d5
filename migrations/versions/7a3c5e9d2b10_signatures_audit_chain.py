"""signatures: audit hash chain, intent codes, signed documents

Revision ID: 7a3c5e9d2b10
Revises: 13442094105f
Create Date: 2026-11-22 12:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '7a3c5e9d2b10'
down_revision = "13442094105f"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('history_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), server_default='', nullable=False))
        batch_op.add_column(sa.Column('hash', sa.String(length=64), server_default='', nullable=False))

    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.add_column(sa.Column('audit_head', sa.String(length=64), server_default='', nullable=False))

    op.create_table('intent_code',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contract_id', sa.Integer(), nullable=False),
    sa.Column('signer_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('destination', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('salt', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('code_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('issued_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('used_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intent_code'))
    )
    with op.batch_alter_table('intent_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_intent_code_contract_id'), ['contract_id'], unique=False)
        batch_op.create_index('ix_intent_code_signer_issued', ['signer_key', 'issued_at'], unique=False)

    op.create_table('signed_document',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contract_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signed_document'))
    )
    with op.batch_alter_table('signed_document', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signed_document_contract_id'), ['contract_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_signed_document_sha256'), ['sha256'], unique=False)


def downgrade():
    with op.batch_alter_table('signed_document', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signed_document_sha256'))
        batch_op.drop_index(batch_op.f('ix_signed_document_contract_id'))
    op.drop_table('signed_document')

    with op.batch_alter_table('intent_code', schema=None) as batch_op:
        batch_op.drop_index('ix_intent_code_signer_issued')
        batch_op.drop_index(batch_op.f('ix_intent_code_contract_id'))
    op.drop_table('intent_code')

    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.drop_column('audit_head')

    with op.batch_alter_table('history_event', schema=None) as batch_op:
        batch_op.drop_column('hash')
        batch_op.drop_column('prev_hash')
