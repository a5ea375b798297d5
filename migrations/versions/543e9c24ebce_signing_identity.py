"""signing_identity: the deployment PKI (root, issuing CA, TSA, platform, seals) shared by every process and node

Revision ID: 543e9c24ebce
Revises: 53880f52c461
Create Date: 2026-12-02 03:03:36.532800

Self-contained (one new table): the keys in ``<instance>/signing/`` of earlier versions are not imported; the
database gets a new PKI on first use, or the licensed CA configured with ``SIGNING_CA_*``.
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '543e9c24ebce'
down_revision = '53880f52c461'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('signing_identity',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('certificate_pem', sa.Text(), nullable=False),
    sa.Column('private_key_pem', sa.Text(), nullable=False),
    sa.Column('stored_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_signing_identity'))
    )


def downgrade():
    op.drop_table('signing_identity')
