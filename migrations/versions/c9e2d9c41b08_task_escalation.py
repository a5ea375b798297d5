"""task escalation: an overdue review task is offered to the supervisor of its role as well

Revision ID: c9e2d9c41b08
Revises: b8e2d9c41b06
Create Date: 2026-12-03 06:30:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = 'c9e2d9c41b08'
down_revision = 'b8e2d9c41b06'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('escalated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('escalated_to', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))
        batch_op.create_index('ix_human_task_escalated', ['state', 'escalated_to', 'due_at', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.drop_index('ix_human_task_escalated')
        batch_op.drop_column('escalated_to')
        batch_op.drop_column('escalated_at')
