"""app_user.provider_code: the provider branch (乙方) an account manager drafts for, the default of their new contracts

Revision ID: 5d1f7c2a9e43
Revises: c4e8a2f61d90
Create Date: 2026-12-02 13:00:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '5d1f7c2a9e43'
down_revision = 'c4e8a2f61d90'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('provider_code', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False,
                                      server_default=''))


def downgrade():
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_column('provider_code')
