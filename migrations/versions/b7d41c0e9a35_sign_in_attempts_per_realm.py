"""sign-in attempts per realm (staff or the embedded identity provider)

Revision ID: b7d41c0e9a35
Revises: b7d2e4a91c05
Create Date: 2026-12-09 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = 'b7d41c0e9a35'
down_revision = 'b7d2e4a91c05'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('login_attempt', schema=None) as batch_op:
        batch_op.add_column(sa.Column('realm', sqlmodel.sql.sqltypes.AutoString(length=16), server_default='staff',
                                      nullable=False))
        batch_op.drop_index('ix_login_attempt_username_at')
        batch_op.create_index('ix_login_attempt_realm_username_at', ['realm', 'username', 'at'], unique=False)


def downgrade():
    with op.batch_alter_table('login_attempt', schema=None) as batch_op:
        batch_op.drop_index('ix_login_attempt_realm_username_at')
        batch_op.create_index('ix_login_attempt_username_at', ['username', 'at'], unique=False)
        batch_op.drop_column('realm')
