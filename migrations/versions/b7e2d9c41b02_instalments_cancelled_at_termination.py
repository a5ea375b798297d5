"""instalments cancelled at termination: payment_instalment.cancelled_at (an early termination waives the instalments
falling due on or after its effective date; those before it stay owed)

Revision ID: b7e2d9c41b02
Revises: f3a8d2c6b714
Create Date: 2026-12-02 20:30:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = 'b7e2d9c41b02'
down_revision = 'f3a8d2c6b714'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('payment_instalment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cancelled_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('payment_instalment', schema=None) as batch_op:
        batch_op.drop_column('cancelled_at')
