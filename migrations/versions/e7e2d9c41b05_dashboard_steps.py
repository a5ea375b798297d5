"""dashboard per step: completed tasks indexed by step, then completion (a loose index scan finds the steps and reads
each one's completions in the window from the index), and open tasks by step with what the waiting panel reads (index
only); both partial, so that other queries of tasks keep their own indexes (bench/dashboards.py)

Revision ID: e7e2d9c41b05
Revises: f3a8d2c6b714
Create Date: 2026-12-02 20:40:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = 'e7e2d9c41b05'
down_revision = 'f3a8d2c6b714'
branch_labels = None
depends_on = None

COMPLETED = sa.text("completed_at IS NOT NULL")
OPEN = sa.text("state = 'open'")


def upgrade():
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.drop_index('ix_human_task_completed')
        batch_op.create_index('ix_human_task_name_completed', ['name', 'completed_at', 'created_at'], unique=False,
                              postgresql_where=COMPLETED, sqlite_where=COMPLETED)
        batch_op.create_index('ix_human_task_open', ['name', 'created_at', 'due_at', 'title'], unique=False,
                              postgresql_where=OPEN, sqlite_where=OPEN)


def downgrade():
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.drop_index('ix_human_task_open')
        batch_op.drop_index('ix_human_task_name_completed')
        batch_op.create_index('ix_human_task_completed', ['completed_at', 'name', 'created_at'], unique=False)
