"""instalments cancelled at termination: payment_instalment.cancelled_at (an early termination waives the instalments
falling due on or after its effective date; those before it stay owed)

Revision ID: b7e2d9c41b02
Revises: e7e2d9c41b05
Create Date: 2026-12-02 20:30:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = 'b7e2d9c41b02'
down_revision = 'e7e2d9c41b05'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('payment_instalment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cancelled_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('payment_instalment', schema=None) as batch_op:
        batch_op.drop_column('cancelled_at')
